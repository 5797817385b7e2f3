// Ingest: nodes, interactions, knowledge-graph triples and social edges, in UNWIND $rows batches.
// graphrec reads what already exists first and creates only what is missing, so a second run of the same files
// changes nothing and an interrupted run can simply be run again (each batch is one transaction).
// {{slots}} are labels / relationship types from graphrec.db.names (an allow-list or the sanitiser), never values.
//
// The edge statements name both ends by internal node id (id(n)), read by existing_nodes at the start of the same
// ingest: a NodeByIdSeek costs a fraction of a seek in the uniqueness constraint's index, which in a write query also
// takes a shared lock on the index entry, and an integer costs less to send and parse than an element id's string
// (BENCHMARKS.md, "Ingest speed"). id() is deprecated in Neo4j 5 with no replacement for this use; graphrec's
// statements ask for no notifications, and the ids never outlive the ingest that read them. The label in each MATCH
// still has to fit.

// name: existing_nodes
// Every node of one label as three parallel lists in one row (a row per node reads ~10x slower): business ids, internal
// node ids, and the values of the properties $keys (those the source sets on that label, so that unchanged ones are not
// written again). Slots: label (User, Item or Entity).
MATCH (n:{{label}})
WHERE n.id IS NOT NULL
RETURN collect(n.id) AS ids, collect(id(n)) AS nodes, collect([key IN $keys | n[key]]) AS values

// name: create_nodes
// $rows: [{id, props}] of ids not yet in the graph, with their attributes from the source (titles, ages ...; often
// none). Slots: label.
UNWIND $rows AS row
CREATE (n:{{label}})
SET n = row.props, n.id = row.id

// name: set_properties
// $rows: [{id, props}]: attributes from the source, merged into nodes that were there before this ingest. Slots: label.
UNWIND $rows AS row
MATCH (n:{{label}} {id: row.id})
SET n += row.props

// name: add_label
// $rows: [{id}]: nodes that get an extra label (e.g. Genre). Slots: label, extra.
UNWIND $rows AS row
MATCH (n:{{label}} {id: row.id})
SET n:{{extra}}

// name: existing_interactions
// One row per user and split (few large rows read fastest): the items it holds, and [item, weight, ts] for those of
// its edges that have a weight or a timestamp (none in sources such as Gowalla, whose edges then cost one string each).
MATCH (u:User)-[r:INTERACTED]->(i:Item)
RETURN u.id AS user, r.split AS split, collect(i.id) AS items,
       collect(CASE WHEN r.weight IS NULL AND r.ts IS NULL THEN null ELSE [i.id, r.weight, r.ts] END) AS weighted

// name: create_interactions
// $rows: [{user, split, edges: [[item, weight, ts], ...]}]: one row per user, split and part of the items (graphrec's
// writers take the parts in turn, never one at once, so that they seldom wait on each other's item locks; the row's
// `part` is not read here), its new edges grouped; user and items are internal node ids.
UNWIND $rows AS row
MATCH (u:User) WHERE id(u) = row.user
UNWIND row.edges AS e
MATCH (i:Item) WHERE id(i) = e[0]
CREATE (u)-[:INTERACTED {split: row.split, weight: e[1], ts: e[2]}]->(i)

// name: create_unweighted_interactions
// Like create_interactions for sources with no weights or timestamps (Gowalla ...): $rows: [{user, split, items}]
// (and the unread `part`), the items a list of internal node ids. Nothing per edge but the item travels or is written.
UNWIND $rows AS row
MATCH (u:User) WHERE id(u) = row.user
UNWIND row.items AS item
MATCH (i:Item) WHERE id(i) = item
CREATE (u)-[:INTERACTED {split: row.split}]->(i)

// name: update_interactions
// $rows: [{user, item, split, weight, ts}]: edges whose weight or timestamp changed in the source.
UNWIND $rows AS row
MATCH (u:User {id: row.user})-[r:INTERACTED]->(i:Item {id: row.item})
WHERE coalesce(r.split, '') = coalesce(row.split, '')
SET r.weight = row.weight, r.ts = row.ts

// name: existing_triples
// The KG edges of one (head label, type, tail label) group, which carry the source relation name as `relation`.
// Slots: head_label, type, tail_label.
MATCH (h:{{head_label}})-[r:{{type}}]->(t:{{tail_label}})
WHERE r.relation IS NOT NULL
RETURN h.id AS head, r.relation AS relation, t.id AS tail

// name: create_triples
// $rows: [{head, edges: [[tail, relation], ...]}] of one (head label, type, tail label) group: one row per head (and
// part of the tails, the unread `part`, when their labels differ), heads and tails as internal node ids. Slots: head_label,
// type, tail_label.
UNWIND $rows AS row
MATCH (h:{{head_label}}) WHERE id(h) = row.head
UNWIND row.edges AS e
MATCH (t:{{tail_label}}) WHERE id(t) = e[0]
CREATE (h)-[:{{type}} {relation: e[1]}]->(t)

// name: existing_follows
// One row per follower with the ids it follows.
MATCH (a:User)-[:FOLLOWS]->(b:User)
RETURN a.id AS src, collect(b.id) AS dsts

// name: create_follows
// $rows: [{src, edges: [[dst, weight], ...]}]: one row per follower, users as internal node ids.
UNWIND $rows AS row
MATCH (a:User) WHERE id(a) = row.src
UNWIND row.edges AS e
MATCH (b:User) WHERE id(b) = e[0]
CREATE (a)-[:FOLLOWS {weight: e[1]}]->(b)
