// graphrec: recommend.cold_start_similar_items
MATCH (run:ModelRun)
WHERE CASE WHEN $run IS NULL THEN run.serving = true ELSE run.id = $run END
WITH run ORDER BY run.switched_at DESC LIMIT 1
MATCH (t:Item) WHERE t.id = $item
OPTIONAL MATCH (t)-[:!INTERACTED&!FOLLOWS]-(x)-[:!INTERACTED&!FOLLOWS]-(n:Item)
WHERE n <> t AND NOT x:Item AND n[run.item_property] IS NOT NULL
WITH run, t, collect(DISTINCT n) AS items
OPTIONAL MATCH (t)<-[:INTERACTED]-(w:User)
WHERE w[run.user_property] IS NOT NULL
WITH run, t, items, collect(DISTINCT w) AS users
WITH run, t, CASE WHEN size(items) > 0 THEN 'kg items' ELSE 'users' END AS basis,
     CASE WHEN size(items) > 0 THEN [n IN items | n[run.item_property]]
          ELSE [w IN users | w[run.user_property]] END AS vs
WHERE size(vs) > 0
WITH run, t, basis, size(vs) AS neighbours,
     [d IN range(0, run.dim - 1) | reduce(s = 0.0, x IN vs | s + x[d]) / size(vs)] AS v
WHERE 0.0 < sqrt(reduce(s = 0.0, x IN v | s + x * x)) < toFloat('Infinity')
MATCH (i:Item)
WITH run, t, basis, neighbours, v, i, i[run.item_property] AS iv
WHERE i <> t AND iv IS NOT NULL AND any(c IN iv WHERE c <> 0.0) AND ($exclude IS NULL OR NOT toString(i.id) IN $exclude)
WITH run, basis, neighbours, i, 2.0 * vector.similarity.cosine(v, iv) - 1.0 AS score
ORDER BY score DESC, toString(i.id)
LIMIT $k
RETURN toString(i.id) AS item, score, run.id AS run, coalesce(i.title, i.name) AS name, basis, neighbours
