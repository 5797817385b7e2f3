// Explanations: the graph paths that connect a user to a recommended item. They read the graph only (no
// embeddings), so they explain any recommendation, from any run.

// name: why
// For user $user and each item id in $items (e.g. the rows of recommend.for_user), at most $limit paths of each
// kind:
//   via_kg       items the user interacted with that share a KG entity with the item:
//                (user)-[:INTERACTED]->(liked)-[r]->(entity)<-[r2]-(item), as {liked, relation, entity, name}
//   via_friends  users the user follows who interacted with the item: (user)-[:FOLLOWS]->(friend)-[:INTERACTED]->(item)
// One row per item found: {item, via_kg, via_friends}. (The WITH before UNWIND is needed by the embedded server,
// which drops every row of a MATCH followed directly by UNWIND.)
MATCH (u:User {id: $user})
WITH u
UNWIND $items AS item_id
MATCH (i:Item {id: item_id})
RETURN i.id AS item,
       [(u)-[:INTERACTED]->(l:Item)-[r]->(e:Entity)<--(i) WHERE l <> i |
            {liked: l.id, relation: r.relation, entity: e.id, name: e.name}][..$limit] AS via_kg,
       [(u)-[:FOLLOWS]->(f:User)-[:INTERACTED]->(i) | f.id][..$limit] AS via_friends

// name: paths
// The same explanations as paths, for drawing (Neo4j Browser): up to $limit paths from user $user to item $item.
MATCH (u:User {id: $user}), (i:Item {id: $item})
MATCH p = (u)-[:INTERACTED]->(:Item)-->(:Entity)<--(i)
RETURN p
LIMIT $limit
UNION
MATCH (u:User {id: $user}), (i:Item {id: $item})
MATCH p = (u)-[:FOLLOWS]->(:User)-[:INTERACTED]->(i)
RETURN p
LIMIT $limit
