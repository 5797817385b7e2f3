// Export: the graph streamed out in few, large rows (one per user / per head), for graphrec.export.

// name: node_ids
// Every business id of one label. Slots: label.
MATCH (n:{{label}}) RETURN n.id AS id

// name: interactions
// One row per user: its interactions as [item, split, weight, ts].
MATCH (u:User)-[r:INTERACTED]->(i:Item)
RETURN u.id AS user, collect([i.id, r.split, r.weight, r.ts]) AS edges

// name: follows
// One row per follower: the users it follows.
MATCH (a:User)-[:FOLLOWS]->(b:User)
RETURN a.id AS src, collect(b.id) AS dsts

// name: triples
// One row per KG head: its facts as [relation, tail label, tail id].
MATCH (h)-[r]->(t)
WHERE r.relation IS NOT NULL
RETURN CASE WHEN h:Item THEN 'Item' ELSE 'Entity' END AS head_label, h.id AS head,
       collect([r.relation, CASE WHEN t:Item THEN 'Item' ELSE 'Entity' END, t.id]) AS facts
