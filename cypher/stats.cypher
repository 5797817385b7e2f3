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
