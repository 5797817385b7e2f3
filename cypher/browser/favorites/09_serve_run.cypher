// graphrec: serve run $run (publish.switch)
MATCH (target:ModelRun {id: $run})
WHERE target.status = 'ready'
SET target.switched_at = toString(datetime())
WITH target
MATCH (r:ModelRun)
SET r.serving = (r.id = target.id)
RETURN target.id AS serving, count(r) AS runs
