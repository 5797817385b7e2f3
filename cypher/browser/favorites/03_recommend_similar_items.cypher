// graphrec: recommend.similar_items
MATCH (run:ModelRun)
WHERE CASE WHEN $run IS NULL THEN run.serving = true ELSE run.id = $run END
WITH run ORDER BY run.switched_at DESC LIMIT 1
MATCH (t:Item {id: $item})
WITH run, t, t[run.item_property] AS v
WHERE v IS NOT NULL
MATCH (i:Item)
WHERE i <> t AND i[run.item_property] IS NOT NULL AND ($exclude IS NULL OR NOT i.id IN $exclude)
WITH run, i, 2.0 * vector.similarity.cosine(v, i[run.item_property]) - 1.0 AS score
ORDER BY score DESC, i.id
LIMIT $k
RETURN i.id AS item, score, run.id AS run
