// graphrec: recommend.cold_start_for_user
MATCH (run:ModelRun)
WHERE CASE WHEN $run IS NULL THEN run.serving = true ELSE run.id = $run END
WITH run ORDER BY run.switched_at DESC LIMIT 1
MATCH (u:User) WHERE u.id = $user
OPTIONAL MATCH (u)-[:INTERACTED]->(n:Item)
WHERE n[run.item_property] IS NOT NULL
WITH run, u, collect(DISTINCT n) AS items
OPTIONAL MATCH (u)-[:FOLLOWS]-(f:User)
WHERE f[run.user_property] IS NOT NULL
WITH run, u, items, collect(DISTINCT f) AS friends
WITH run, u, CASE WHEN size(items) > 0 THEN 'items' ELSE 'friends' END AS basis,
     CASE WHEN size(items) > 0 THEN [n IN items | n[run.item_property]]
          ELSE [f IN friends | f[run.user_property]] END AS vs
WHERE size(vs) > 0
WITH run, u, basis, size(vs) AS neighbours,
     [d IN range(0, run.dim - 1) | reduce(s = 0.0, w IN vs | s + w[d]) / size(vs)] AS v
WITH run, u, basis, neighbours, v + [0.0] AS q, sqrt(reduce(s = 0.0, x IN v | s + x * x)) AS qn
WHERE 0.0 < qn < toFloat('Infinity')
OPTIONAL MATCH (u)-[r:INTERACTED]->(s:Item)
WHERE $seen_splits IS NULL OR r.split IN $seen_splits
WITH run, basis, neighbours, q, qn, collect(s) AS seen
MATCH (i:Item)
WITH run, basis, neighbours, q, qn, seen, i, i[run.mips_property] AS iv
WHERE iv IS NOT NULL AND any(c IN iv WHERE c <> 0.0)
  AND NOT i IN seen
  AND ($exclude IS NULL OR NOT toString(i.id) IN $exclude)
  AND ($entities IS NULL OR all(e IN $entities WHERE EXISTS { MATCH (i)-[:!INTERACTED&!FOLLOWS]-(x) WHERE x.id = e OR x.name = e }))
WITH run, basis, neighbours, i, (2.0 * vector.similarity.cosine(q, iv) - 1.0) * qn * run.max_norm AS score
ORDER BY score DESC, toString(i.id)
LIMIT $k
RETURN toString(i.id) AS item, score, run.id AS run, coalesce(i.title, i.name) AS name, basis, neighbours
