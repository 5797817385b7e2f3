// graphrec: explain.paths
MATCH (u:User), (i:Item)
WHERE u.id = $user AND i.id = $item
MATCH p = (u)-[:INTERACTED]->(l:Item)-[:!INTERACTED&!FOLLOWS]-(e)-[:!INTERACTED&!FOLLOWS]-(i)
WHERE l <> i AND NOT e:Item
RETURN p
LIMIT $limit
UNION
MATCH (u:User), (i:Item)
WHERE u.id = $user AND i.id = $item
MATCH p = (u)-[:FOLLOWS]-(:User)-[:INTERACTED]->(i)
RETURN p
LIMIT $limit
