// graphrec: explain.paths
MATCH (u:User {id: $user}), (i:Item {id: $item})
MATCH p = (u)-[:INTERACTED]->(:Item)-->(:Entity)<--(i)
RETURN p
LIMIT $limit
UNION
MATCH (u:User {id: $user}), (i:Item {id: $item})
MATCH p = (u)-[:FOLLOWS]->(:User)-[:INTERACTED]->(i)
RETURN p
LIMIT $limit
