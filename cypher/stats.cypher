// What is in the graph: `graphrec stats`.

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
MATCH ()-[r:INTERACTED]->() RETURN r.split AS split, count(r) AS n

// name: kg_summary
// KG edges per source relation name.
MATCH ()-[r]->() WHERE r.relation IS NOT NULL RETURN r.relation AS relation, count(r) AS n

// name: active_users
// Users with at least one interaction (datasets count users this way; friends-only users are not counted).
MATCH (u:User) WHERE EXISTS { (u)-[:INTERACTED]->(:Item) } RETURN count(u) AS n

// name: active_items
// Items with at least one interaction.
MATCH (i:Item) WHERE EXISTS { (:User)-[:INTERACTED]->(i) } RETURN count(i) AS n
