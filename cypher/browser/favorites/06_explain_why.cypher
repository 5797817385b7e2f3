// graphrec: explain.why
MATCH (u:User {id: $user})
WITH u
UNWIND $items AS item_id
MATCH (i:Item {id: item_id})
RETURN i.id AS item,
       [(u)-[:INTERACTED]->(l:Item)-[r]->(e:Entity)<--(i) WHERE l <> i |
            {liked: l.id, relation: r.relation, entity: e.id, name: e.name}][..$limit] AS via_kg,
       [(u)-[:FOLLOWS]->(f:User)-[:INTERACTED]->(i) | f.id][..$limit] AS via_friends
