// graphrec: recommend.for_user_index
MATCH (run:ModelRun)
WHERE CASE WHEN $run IS NULL THEN run.serving = true ELSE run.id = $run END
WITH run ORDER BY run.switched_at DESC LIMIT 1
MATCH (u:User) WHERE u.id = $user
WITH run, u, u[run.user_property] AS v
WHERE v IS NOT NULL
OPTIONAL MATCH (u)-[r:INTERACTED]->(s:Item)
WHERE $seen_splits IS NULL OR r.split IN $seen_splits
WITH run, u, v, collect(s) AS seen
WITH run, seen, v + [0.0] AS q, v + [z IN range(1, run.index_pad) | 0.0] AS probe,
     sqrt(reduce(s = 0.0, x IN v | s + x * x)) AS qn
WHERE 0.0 < qn < toFloat('Infinity')
CALL db.index.vector.queryNodes(run.index_name, $fetch, probe) YIELD node
WITH run, seen, q, qn, node AS i, node[run.mips_property] AS iv
WHERE any(c IN iv WHERE c <> 0.0)
  AND NOT i IN seen
  AND ($exclude IS NULL OR NOT toString(i.id) IN $exclude)
  AND ($entities IS NULL OR all(e IN $entities WHERE EXISTS { MATCH (i)-[:!INTERACTED&!FOLLOWS]-(x) WHERE x.id = e OR x.name = e }))
WITH run, i, (2.0 * vector.similarity.cosine(q, iv) - 1.0) * qn * run.max_norm AS score
ORDER BY score DESC, toString(i.id)
LIMIT $k
RETURN toString(i.id) AS item, score, run.id AS run, coalesce(i.title, i.name) AS name
