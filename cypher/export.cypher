// Export: the graph streamed out in few, large rows (one per user / per head), for graphrec.export.
// Slots come from the graph mapping (graphrec.mapping): user / item labels, their keys ({{user_key:u}} is u's id
// property, or elementId(u)), and the interaction, social and KG relationship types. graphrec's own schema renders
// these as (:User {id})-[:INTERACTED]->(:Item {id}) and so on.

// name: node_ids
// Every business id of one label, as text. Slots: label, key.
MATCH (n:{{label}})
WITH {{key:n}} AS id
WHERE id IS NOT NULL
RETURN toString(id) AS id

// name: interactions
// One row per user: its interactions as [item, type, split, weight, timestamp, filter value]. $fields maps each
// interaction type to the property names of those four ('' for none: r[''] is null).
MATCH (u:{{user}})-[r:{{interactions}}]->(i:{{item}})
WITH u, i, r, $fields[type(r)] AS f
RETURN toString({{user_key:u}}) AS user,
       collect([toString({{item_key:i}}), type(r), r[f[0]], r[f[1]], r[f[2]], r[f[3]]]) AS edges

// name: follows
// One row per user: the users it is tied to by a social type, in the stored direction.
MATCH (a:{{user}})-[:{{social}}]->(b:{{user}})
RETURN toString({{user_key:a}}) AS src, collect(toString({{user_key:b}})) AS dsts

// name: triples
// graphrec's own KG: one row per head, its facts as [relation, tail label, tail id] (every edge with `relation`).
MATCH (h)-[r]->(t)
WHERE r.relation IS NOT NULL
RETURN CASE WHEN h:Item THEN 'Item' ELSE 'Entity' END AS head_label, h.id AS head,
       collect([r.relation, CASE WHEN t:Item THEN 'Item' ELSE 'Entity' END, t.id]) AS facts

// name: item_facts
// A mapped KG, first hop: every relationship of a KG type that touches an item (either direction), one row per
// start node: [type, end is an item, end id]. Items are named by their key, other nodes by elementId.
MATCH (:{{item}})-[r:{{kg}}]-()
WITH DISTINCT r
WITH startNode(r) AS h, r, endNode(r) AS t
RETURN h:{{item}} AS head_is_item, CASE WHEN h:{{item}} THEN toString({{item_key:h}}) ELSE elementId(h) END AS head,
       collect([type(r), t:{{item}}, CASE WHEN t:{{item}} THEN toString({{item_key:t}}) ELSE elementId(t) END]) AS facts

// name: entity_facts
// A mapped KG, further hops: the relationships of a KG type between the non-item nodes $frontier (element ids)
// and other non-item nodes, rows as item_facts.
UNWIND $frontier AS eid
MATCH (e) WHERE elementId(e) = eid
MATCH (e)-[r:{{kg}}]-(x)
WHERE NOT x:{{item}}
WITH DISTINCT r
WITH startNode(r) AS h, r, endNode(r) AS t
RETURN false AS head_is_item, elementId(h) AS head, collect([type(r), false, elementId(t)]) AS facts
