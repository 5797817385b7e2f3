// Explanations: the graph paths that connect a user to a recommended item. They read the graph only (no
// embeddings), so they explain any recommendation, from any run. Labels, keys and relationship types are the graph
// mapping's slots (graphrec.mapping): graphrec's own schema renders them as User, Item, INTERACTED, FOLLOWS and its
// KG types.

// name: why
// For user $user and each item id in $items (e.g. the rows of recommend.for_user), at most $limit paths of each
// kind:
//   via_kg       items the user interacted with that share a KG node with the item:
//                (user)-[:interaction]->(liked)-[r:kg]-(entity)-[:kg]-(item), as {liked, liked_name, relation, entity, name}
//   via_friends  users tied to the user by a social type who interacted with the item; $directed: only the users
//                it points to (who it follows), else ties either way
// One row per item found: {item, via_kg, via_friends}.
MATCH (u:{{user}}) WHERE {{user_key:u}} = $user
WITH u
UNWIND $items AS item_id
MATCH (i:{{item}}) WHERE {{item_key:i}} = item_id
RETURN toString({{item_key:i}}) AS item,
       [(u)-[:{{interactions}}]->(l:{{item}})-[r:{{kg}}]-(e)-[:{{kg}}]-(i) WHERE l <> i AND NOT e:{{item}} |
            {liked: toString({{item_key:l}}), liked_name: coalesce(l.title, l.name), relation: coalesce(r.relation, type(r)),
             entity: coalesce(toString(e.id), elementId(e)), name: coalesce(e.name, e.title, toString(e.id))}][..$limit] AS via_kg,
       [(u)-[s:{{social}}]-(f:{{user}})-[:{{interactions}}]->(i) WHERE NOT $directed OR startNode(s) = u |
            toString({{user_key:f}})][..$limit] AS via_friends

// name: paths
// The same explanations as paths, for drawing (Neo4j Browser): up to $limit paths from user $user to item $item.
MATCH (u:{{user}}), (i:{{item}})
WHERE {{user_key:u}} = $user AND {{item_key:i}} = $item
MATCH p = (u)-[:{{interactions}}]->(l:{{item}})-[:{{kg}}]-(e)-[:{{kg}}]-(i)
WHERE l <> i AND NOT e:{{item}}
RETURN p
LIMIT $limit
UNION
MATCH (u:{{user}}), (i:{{item}})
WHERE {{user_key:u}} = $user AND {{item_key:i}} = $item
MATCH p = (u)-[:{{social}}]-(:{{user}})-[:{{interactions}}]->(i)
RETURN p
LIMIT $limit
