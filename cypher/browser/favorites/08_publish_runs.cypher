// graphrec: publish.runs
MATCH (r:ModelRun)
RETURN r.id AS id, r.model AS model, r.status AS status, coalesce(r.serving, false) AS serving,
       r.created_at AS created_at, r.published_at AS published_at, r.switched_at AS switched_at,
       r.metrics AS metrics, r.dim AS dim, r.users_written AS users, r.items_written AS items
ORDER BY r.created_at, r.id
