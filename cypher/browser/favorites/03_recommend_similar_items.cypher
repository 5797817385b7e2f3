// graphrec: recommend.similar_items
MATCH (run:ModelRun)
WHERE CASE WHEN $run IS NULL THEN run.serving = true ELSE run.id = $run END
WITH run ORDER BY run.switched_at DESC LIMIT 1
MATCH (t:Item) WHERE t.id = $item
WITH run, t, t[run.item_property] AS v
WHERE v IS NOT NULL AND 0.0 < sqrt(reduce(s = 0.0, x IN v | s + x * x)) < toFloat('Infinity')
MATCH (i:Item)
WITH run, t, v, i, i[run.item_property] AS iv
WHERE i <> t AND iv IS NOT NULL AND any(c IN iv WHERE c <> 0.0) AND ($exclude IS NULL OR NOT toString(i.id) IN $exclude)
WITH run, i, 2.0 * vector.similarity.cosine(v, iv) - 1.0 AS score
ORDER BY score DESC, toString(i.id)
LIMIT $k
RETURN toString(i.id) AS item, score, run.id AS run, coalesce(i.title, i.name) AS name
