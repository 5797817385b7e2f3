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
// interaction type to the property names of those four ('' for none: r[''] is null). The COLLECT subquery gathers
// one user's edges at a time, so rows stream out as they are read; a top-level collect() grouped by user is an eager
// aggregation that holds every edge of the graph in the server's heap before the first row leaves (10^7 edges: 2 GB
// of old generation, 14 s of garbage collection, the whole export 367 s against 285 s this way; BENCHMARKS.md).
MATCH (u:{{user}})
WITH u, COLLECT { MATCH (u)-[r:{{interactions}}]->(i:{{item}})
                  WITH r, i, $fields[type(r)] AS f
                  RETURN [toString({{item_key:i}}), type(r), r[f[0]], r[f[1]], r[f[2]], r[f[3]]] } AS edges
WHERE size(edges) > 0
RETURN toString({{user_key:u}}) AS user, edges

// name: follows
// One row per user: the users it is tied to by a social type, in the stored direction (streamed as interactions).
MATCH (a:{{user}})
WITH a, COLLECT { MATCH (a)-[:{{social}}]->(b:{{user}}) RETURN toString({{user_key:b}}) } AS dsts
WHERE size(dsts) > 0
RETURN toString({{user_key:a}}) AS src, dsts

// name: triples
// graphrec's own KG: one row per head, its facts as [relation, tail label, tail id] (every edge with `relation`
// between items and entities). The labels keep users out: without them every interaction is read to be dropped.
MATCH (h:Item|Entity)-[r]->(t:Item|Entity)
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
