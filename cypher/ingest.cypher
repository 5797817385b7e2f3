// Ingest: nodes, interactions, knowledge-graph triples and social edges, in UNWIND $rows batches.
// graphrec reads what already exists first and creates only what is missing, so a second run of the same files
// changes nothing and an interrupted run can simply be run again (each batch is one transaction).
// {{slots}} are labels / relationship types from graphrec.db.names (an allow-list or the sanitiser), never values.

// name: existing_ids
// Every business id of one label. Slots: label (User, Item or Entity).
MATCH (n:{{label}}) RETURN n.id AS id

// name: create_nodes
// $rows: [{id}] of ids not yet in the graph. Slots: label.
UNWIND $rows AS row
CREATE (:{{label}} {id: row.id})

// name: set_properties
// $rows: [{id, props}]: attributes from the source (titles, ages ...), merged into the node. Slots: label.
UNWIND $rows AS row
MATCH (n:{{label}} {id: row.id})
SET n += row.props

// name: add_label
// $rows: [{id}]: nodes that get an extra label (e.g. Genre). Slots: label, extra.
UNWIND $rows AS row
MATCH (n:{{label}} {id: row.id})
SET n:{{extra}}

// name: existing_interactions
// One row per user with its interactions as [item, split, weight, ts] lists (few large rows read fastest).
MATCH (u:User)-[r:INTERACTED]->(i:Item)
RETURN u.id AS user, collect([i.id, r.split, r.weight, r.ts]) AS edges

// name: create_interactions
// $rows: [{user, edges: [[item, split, weight, ts], ...]}]: one row per user, its new edges grouped.
UNWIND $rows AS row
MATCH (u:User {id: row.user})
UNWIND row.edges AS e
MATCH (i:Item {id: e[0]})
CREATE (u)-[:INTERACTED {split: e[1], weight: e[2], ts: e[3]}]->(i)

// name: create_interactions_split
// Like create_interactions for sources with no weights or timestamps (edges [[item, split], ...]): no null
// properties to write per edge.
UNWIND $rows AS row
MATCH (u:User {id: row.user})
UNWIND row.edges AS e
MATCH (i:Item {id: e[0]})
CREATE (u)-[:INTERACTED {split: e[1]}]->(i)

// name: update_interactions
// $rows: [{user, item, split, weight, ts}]: edges whose weight or timestamp changed in the source.
UNWIND $rows AS row
MATCH (u:User {id: row.user})-[r:INTERACTED]->(i:Item {id: row.item})
WHERE coalesce(r.split, '') = coalesce(row.split, '')
SET r.weight = row.weight, r.ts = row.ts

// name: existing_triples
// Every KG edge (they carry the source relation name as `relation`), with the head's and tail's label.
MATCH (h)-[r]->(t)
WHERE r.relation IS NOT NULL
RETURN CASE WHEN h:Item THEN 'Item' ELSE 'Entity' END AS head_label, h.id AS head, r.relation AS relation,
       CASE WHEN t:Item THEN 'Item' ELSE 'Entity' END AS tail_label, t.id AS tail

// name: create_triples
// $rows: [{head, relation, tail}] of one (head label, type, tail label) group. Slots: head_label, type, tail_label.
UNWIND $rows AS row
MATCH (h:{{head_label}} {id: row.head})
MATCH (t:{{tail_label}} {id: row.tail})
CREATE (h)-[:{{type}} {relation: row.relation}]->(t)

// name: existing_follows
// One row per follower with the ids it follows.
MATCH (a:User)-[:FOLLOWS]->(b:User)
RETURN a.id AS src, collect(b.id) AS dsts

// name: create_follows
// $rows: [{src, dsts: [[dst, weight], ...]}]: one row per follower.
UNWIND $rows AS row
MATCH (a:User {id: row.src})
UNWIND row.dsts AS d
MATCH (b:User {id: d[0]})
CREATE (a)-[:FOLLOWS {weight: d[1]}]->(b)
