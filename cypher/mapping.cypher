// The graph's own schema, read to check a graph mapping (graphrec.mapping.resolve) and to propose one
// (graphrec.inspect). Slots: label, key (a property name).

// name: labels
CALL db.labels() YIELD label
RETURN label

// name: relationship_types
CALL db.relationshipTypes() YIELD relationshipType
RETURN relationshipType AS type

// name: property_keys
CALL db.propertyKeys() YIELD propertyKey
RETURN propertyKey AS key

// name: key_profile
// How property {{key}} names the nodes of {{label}}: how many nodes, how many lack it, how many distinct values,
// and which kinds of value it holds ('integer', 'string' or 'other').
MATCH (n:{{label}})
WITH n.{{key}} AS v
RETURN count(*) AS nodes, count(*) - count(v) AS missing, count(DISTINCT v) AS distinct,
       collect(DISTINCT CASE WHEN v IS NULL THEN null WHEN v IS :: INTEGER THEN 'integer'
                             WHEN v IS :: STRING THEN 'string' ELSE 'other' END) AS kinds

// name: label_properties
// The property keys found on (up to 1,000 of) the nodes of {{label}}.
MATCH (n:{{label}})
WITH n LIMIT 1000
UNWIND keys(n) AS key
RETURN collect(DISTINCT key) AS keys

// name: node_counts
// Nodes per label (a node with two labels counts under each).
MATCH (n)
UNWIND labels(n) AS label
RETURN label, count(*) AS nodes
ORDER BY label

// name: patterns
// Relationships per (start labels, type, end labels), and how many distinct start and end nodes they join.
MATCH (a)-[r]->(b)
RETURN labels(a) AS start, type(r) AS type, labels(b) AS end, count(*) AS count,
       count(DISTINCT a) AS starts, count(DISTINCT b) AS ends
ORDER BY count DESC

// name: node_properties
// Property keys and their types per node label combination (Neo4j's schema sampling).
CALL db.schema.nodeTypeProperties() YIELD nodeLabels, propertyName, propertyTypes
WHERE propertyName IS NOT NULL
RETURN nodeLabels AS labels, propertyName AS property, propertyTypes AS types

// name: relationship_properties
// Property keys and their types per relationship type.
CALL db.schema.relTypeProperties() YIELD relType, propertyName, propertyTypes
WHERE propertyName IS NOT NULL
RETURN relType AS type, propertyName AS property, propertyTypes AS types
