// What is in the graph: `graphrec stats`. The interaction, KG and social counts read the graph mapping's slots
// (graphrec.mapping; graphrec's own schema: INTERACTED, its KG types, FOLLOWS).

// name: node_count
// Slots: label.
MATCH (n:{{label}}) RETURN count(n) AS n

// name: labels
CALL db.labels() YIELD label RETURN label

// name: relationship_types
CALL db.relationshipTypes() YIELD relationshipType RETURN relationshipType AS type

// name: relationship_count
// Slots: type.
MATCH ()-[r:{{type}}]->() RETURN count(r) AS n

// name: interactions_per_split
// $split maps each interaction type to its split property ('' for none).
MATCH (:{{user}})-[r:{{interactions}}]->(:{{item}}) RETURN r[$split[type(r)]] AS split, count(r) AS n

// name: kg_summary
// KG edges per relation (the source name graphrec's ingest keeps in `relation`, else the type), and the KG's nodes
// that are not items.
MATCH ()-[r:{{kg}}]->()
WITH coalesce(r.relation, type(r)) AS relation, count(r) AS n
RETURN relation, n

// name: entity_count
// The KG's nodes that are not items: graphrec's own Entity nodes, or those a mapped KG reaches from the items.
MATCH (:{{item}})-[:{{kg}}]-(e)
WHERE NOT e:{{item}}
RETURN count(DISTINCT e) AS n

// name: social_count
MATCH (:{{user}})-[r:{{social}}]->(:{{user}}) RETURN count(r) AS n

// name: active_users
// Users with at least one interaction (datasets count users this way; friends-only users are not counted).
MATCH (u:{{user}}) WHERE EXISTS { (u)-[:{{interactions}}]->(:{{item}}) } RETURN count(u) AS n

// name: active_items
// Items with at least one interaction.
MATCH (i:{{item}}) WHERE EXISTS { (:{{user}})-[:{{interactions}}]->(i) } RETURN count(i) AS n

// name: split_health
// What caps any model on a stored split: (user, item) pairs both in train and in test, test interactions whose item
// has no training interaction (no model can rank it from the graph), and users with training but no test
// interactions. $split maps each interaction type to its split property.
MATCH (u:{{user}})-[r:{{interactions}}]->(i:{{item}})
WITH u, i, collect(r[$split[type(r)]]) AS splits
WITH u, i, 'train' IN splits AS train, 'test' IN splits AS test
WITH i, collect({u: u, train: train, test: test}) AS pairs
WITH i, pairs, any(p IN pairs WHERE p.train) AS trained
UNWIND pairs AS p
WITH p.u AS u, trained, p
WITH u, sum(CASE WHEN p.train AND p.test THEN 1 ELSE 0 END) AS both,
     sum(CASE WHEN p.test AND NOT trained THEN 1 ELSE 0 END) AS cold,
     max(CASE WHEN p.train THEN 1 ELSE 0 END) AS has_train, max(CASE WHEN p.test THEN 1 ELSE 0 END) AS has_test
RETURN sum(both) AS train_test_overlap, sum(cold) AS test_items_unseen_in_train,
       sum(CASE WHEN has_train = 1 AND has_test = 0 THEN 1 ELSE 0 END) AS users_without_test,
       sum(has_test) AS users_with_test

// name: kg_id_collisions
// The trace of a KG file that numbers items and entities in one id space, ingested as two: items no interaction
// reaches that are KG heads or tails, and entities whose id is an item's (graphrec's own schema).
OPTIONAL MATCH (i:{{item}})-[:{{kg}}]-()
WHERE NOT EXISTS { (:{{user}})-[:{{interactions}}]->(i) }
WITH count(DISTINCT i) AS phantom_items
OPTIONAL MATCH (e:Entity)
WHERE EXISTS { MATCH (i:{{item}} {id: e.id}) }
RETURN phantom_items, count(e) AS entity_item_ids
