// graphrec: explain.why
MATCH (u:User) WHERE u.id = $user
WITH u
UNWIND $items AS item_id
MATCH (i:Item) WHERE i.id = item_id
RETURN toString(i.id) AS item,
       [(u)-[:INTERACTED]->(l:Item)-[r:!INTERACTED&!FOLLOWS]-(e)-[:!INTERACTED&!FOLLOWS]-(i) WHERE l <> i AND NOT e:Item |
            {liked: toString(l.id), liked_name: coalesce(l.title, l.name), relation: coalesce(r.relation, type(r)),
             entity: coalesce(toString(e.id), elementId(e)), name: coalesce(e.name, e.title, toString(e.id))}][..$limit] AS via_kg,
       [(u)-[s:FOLLOWS]-(f:User)-[:INTERACTED]->(i) WHERE NOT $directed OR startNode(s) = u |
            toString(f.id)][..$limit] AS via_friends
