// Recommendations from the embeddings written back by `graphrec publish` (see publish.cypher for the properties).
// Labels, keys and relationship types are the graph mapping's slots (graphrec.mapping; graphrec's own schema
// renders {{user}} as User, {{user_key:u}} as u.id, {{interactions}} as INTERACTED ...); ids are compared as the
// graph stores them and returned as text.
//
// Every statement first picks ONE (:ModelRun): run $run when given, else the run being served, and reads the
// property and index names from it (n[run.user_property] ...), so one query never mixes two runs and switching
// runs (publish.switch) is atomic for its readers.
//
// Scores are the model's: the inner product user · item. Neo4j's vector functions only know cosine and euclidean,
// so items also carry mips_<run> = [x, sqrt(M² − |x|²)] (M = the largest item norm, run.max_norm); for q' = [q, 0]
// cos(q', x') = q·x / (|q| M), which ranks items exactly as q·x does, and score = cos · |q| · M gives q·x back.
// Neo4j's vector.similarity.cosine returns (1 + cos) / 2 (in float32), hence the 2·s − 1 below. It throws on a
// vector of norm 0 or with a NaN or infinite entry, and one such vector would fail the whole query, so every
// cosine here is guarded: the query vector must have a positive, finite norm (0 < qn < Infinity, which NaN fails
// too), else the statement returns no row (a user whose vector is 0 then gets the cold-start answer); a stored
// item vector must have a non-zero entry (any(c IN iv WHERE c <> 0.0), which stops at the first one, so it costs
// about one comparison per item). Stored vectors are not checked for NaN or infinite entries: that would read every
// entry of every item on each query; graphrec.publish refuses such rows (and zero item rows, and writes no zero
// user rows), so only a vector written by something else could hold one.
//
// Common parameters:
//   $user         a user's business id                    $item   an item's business id
//   $k            how many items to return                $run    a published run id, or null for the served run
//   $seen_splits  null: everything the user interacted with is excluded; a list such as ['train']: only the
//                 interactions with those splits are (offline evaluation masks the training items only)
//   $entities     null, or entity ids/names (e.g. ['Rock']): only items linked to every one of them (a KG filter)
//   $exclude      null, or item ids never to return
//   $fetch        index path only: how many candidates to take from the vector index before the exact re-rank
// Rows come best first: {item, score, run, name} (name: the item's title or name property, if it has one).
// No row means no run is served, or the user/item is unknown or has no
// embedding in the run (graphrec.recommend tells these apart with recommend.status).

// name: serving_run
// Which run the serving queries would use ($run, or the served one): whether its S is a walk the graph can compute
// (walk), and how many entries of each item's row of S it stored (similar; null: none).
MATCH (run:ModelRun)
WHERE CASE WHEN $run IS NULL THEN run.serving = true ELSE run.id = $run END
WITH run ORDER BY run.switched_at DESC LIMIT 1
RETURN run.id AS id, run.walk_user_power IS NOT NULL AS walk, run.items_written AS items, run.similar_k AS similar,
       run.dim AS dim

// name: status
// What the serving queries would use for $user / $item under run $run (null: the served run): does the run exist,
// the user/item, its embedding, and how many graph neighbours it has (for a cold-start answer).
OPTIONAL MATCH (run:ModelRun)
WHERE CASE WHEN $run IS NULL THEN run.serving = true ELSE run.id = $run END
WITH run ORDER BY run.switched_at DESC LIMIT 1
OPTIONAL MATCH (u:{{user}}) WHERE {{user_key:u}} = $user
OPTIONAL MATCH (i:{{item}}) WHERE {{item_key:i}} = $item
RETURN run.id AS run, u IS NOT NULL AS user_exists, u[run.user_property] IS NOT NULL AS user_embedded,
       COUNT { (u)-[:{{interactions}}]->(:{{item}}) } AS user_items, COUNT { (u)-[:{{social}}]-(:{{user}}) } AS user_friends,
       i IS NOT NULL AS item_exists, i[run.item_property] IS NOT NULL AS item_embedded,
       COUNT { (i)-[:{{kg}}]-() } AS item_entities, COUNT { (i)<-[:{{interactions}}]-(:{{user}}) } AS item_users

// name: for_user
// Top-$k items for $user, EXACT path: every item is scored. Parameters: $user, $k, $run, $seen_splits, $entities,
// $exclude. What the user already interacted with is excluded by a graph pattern: the items of
// (u)-[:INTERACTED]->(s) are collected once and skipped (measured on Gowalla's 41k items, checking
// NOT EXISTS { (u)-[:INTERACTED]->(i) } per item instead took ~0.8 s more per query on the embedded server).
MATCH (run:ModelRun)
WHERE CASE WHEN $run IS NULL THEN run.serving = true ELSE run.id = $run END
WITH run ORDER BY run.switched_at DESC LIMIT 1
MATCH (u:{{user}}) WHERE {{user_key:u}} = $user
WITH run, u, u[run.user_property] AS v
WHERE v IS NOT NULL
OPTIONAL MATCH (u)-[r:{{interactions}}]->(s:{{item}})
WHERE $seen_splits IS NULL OR r.split IN $seen_splits
WITH run, u, v, collect(s) AS seen
WITH run, seen, v + [0.0] AS q, sqrt(reduce(s = 0.0, x IN v | s + x * x)) AS qn
WHERE 0.0 < qn < toFloat('Infinity')
MATCH (i:{{item}})
WITH run, seen, q, qn, i, i[run.mips_property] AS iv
WHERE iv IS NOT NULL AND any(c IN iv WHERE c <> 0.0)
  AND NOT i IN seen
  AND ($exclude IS NULL OR NOT toString({{item_key:i}}) IN $exclude)
  AND ($entities IS NULL OR all(e IN $entities WHERE EXISTS { MATCH (i)-[:{{kg}}]-(x) WHERE x.id = e OR x.name = e }))
WITH run, i, (2.0 * vector.similarity.cosine(q, iv) - 1.0) * qn * run.max_norm AS score
ORDER BY score DESC, toString({{item_key:i}})
LIMIT $k
RETURN toString({{item_key:i}}) AS item, score, run.id AS run, coalesce(i.title, i.name) AS name

// name: for_user_index
// Top-$k items for $user, INDEX path: $fetch candidates from the run's vector index (approximate), the seen and
// filtered ones dropped, the rest re-ranked by the exact score. Same parameters as for_user, plus $fetch (> $k:
// over-fetching is what makes the approximate index find the exact top-k; filters apply to those $fetch only).
MATCH (run:ModelRun)
WHERE CASE WHEN $run IS NULL THEN run.serving = true ELSE run.id = $run END
WITH run ORDER BY run.switched_at DESC LIMIT 1
MATCH (u:{{user}}) WHERE {{user_key:u}} = $user
WITH run, u, u[run.user_property] AS v
WHERE v IS NOT NULL
OPTIONAL MATCH (u)-[r:{{interactions}}]->(s:{{item}})
WHERE $seen_splits IS NULL OR r.split IN $seen_splits
WITH run, u, v, collect(s) AS seen
WITH run, seen, v + [0.0] AS q, v + [z IN range(1, run.index_pad) | 0.0] AS probe,
     sqrt(reduce(s = 0.0, x IN v | s + x * x)) AS qn
WHERE 0.0 < qn < toFloat('Infinity')
CALL db.index.vector.queryNodes(run.index_name, $fetch, probe) YIELD node
WITH run, seen, q, qn, node AS i, node[run.mips_property] AS iv
WHERE any(c IN iv WHERE c <> 0.0)
  AND NOT i IN seen
  AND ($exclude IS NULL OR NOT toString({{item_key:i}}) IN $exclude)
  AND ($entities IS NULL OR all(e IN $entities WHERE EXISTS { MATCH (i)-[:{{kg}}]-(x) WHERE x.id = e OR x.name = e }))
WITH run, i, (2.0 * vector.similarity.cosine(q, iv) - 1.0) * qn * run.max_norm AS score
ORDER BY score DESC, toString({{item_key:i}})
LIMIT $k
RETURN toString({{item_key:i}}) AS item, score, run.id AS run, coalesce(i.title, i.name) AS name

// name: similar_items
// The $k items most similar to $item: cosine of the run's item embeddings, every item scored (exact).
// Parameters: $item, $k, $run, $exclude. Returns {item, score (the cosine, in [-1, 1]), run}.
MATCH (run:ModelRun)
WHERE CASE WHEN $run IS NULL THEN run.serving = true ELSE run.id = $run END
WITH run ORDER BY run.switched_at DESC LIMIT 1
MATCH (t:{{item}}) WHERE {{item_key:t}} = $item
WITH run, t, t[run.item_property] AS v
WHERE v IS NOT NULL AND 0.0 < sqrt(reduce(s = 0.0, x IN v | s + x * x)) < toFloat('Infinity')
MATCH (i:{{item}})
WITH run, t, v, i, i[run.item_property] AS iv
WHERE i <> t AND iv IS NOT NULL AND any(c IN iv WHERE c <> 0.0) AND ($exclude IS NULL OR NOT toString({{item_key:i}}) IN $exclude)
WITH run, i, 2.0 * vector.similarity.cosine(v, iv) - 1.0 AS score
ORDER BY score DESC, toString({{item_key:i}})
LIMIT $k
RETURN toString({{item_key:i}}) AS item, score, run.id AS run, coalesce(i.title, i.name) AS name

// name: similar_stored_items
// The $k items most similar to $item for a run with no item embeddings (ItemKNN, EASE^R, Turbo-CF ...): the largest
// entries of $item's stored row of S (the GRAPHREC_SIMILAR relationships graphrec publish wrote). Parameters: $item,
// $k, $run, $exclude. Returns {item, score (the entry of S), run}.
MATCH (run:ModelRun)
WHERE CASE WHEN $run IS NULL THEN run.serving = true ELSE run.id = $run END
WITH run ORDER BY run.switched_at DESC LIMIT 1
MATCH (t:{{item}})-[s:GRAPHREC_SIMILAR]->(i:{{item}})
WHERE {{item_key:t}} = $item AND s.run = run.id AND ($exclude IS NULL OR NOT toString({{item_key:i}}) IN $exclude)
WITH run, i, s.score AS score
ORDER BY score DESC, toString({{item_key:i}})
LIMIT $k
RETURN toString({{item_key:i}}) AS item, score, run.id AS run, coalesce(i.title, i.name) AS name

// name: cold_start_for_user
// Top-$k items for a user with no embedding in the run yet but with graph neighbours: its vector is the mean of
// the embeddings of the items it interacted with (LightGCN's one-hop propagation), or when it has none, of the
// users it follows or is followed by. Exact path; parameters as for_user. Also returns basis ('items' or
// 'friends') and neighbours (how many vectors were averaged).
MATCH (run:ModelRun)
WHERE CASE WHEN $run IS NULL THEN run.serving = true ELSE run.id = $run END
WITH run ORDER BY run.switched_at DESC LIMIT 1
MATCH (u:{{user}}) WHERE {{user_key:u}} = $user
OPTIONAL MATCH (u)-[:{{interactions}}]->(n:{{item}})
WHERE n[run.item_property] IS NOT NULL
WITH run, u, collect(DISTINCT n) AS items
OPTIONAL MATCH (u)-[:{{social}}]-(f:{{user}})
WHERE f[run.user_property] IS NOT NULL
WITH run, u, items, collect(DISTINCT f) AS friends
WITH run, u, CASE WHEN size(items) > 0 THEN 'items' ELSE 'friends' END AS basis,
     CASE WHEN size(items) > 0 THEN [n IN items | n[run.item_property]]
          ELSE [f IN friends | f[run.user_property]] END AS vs
WHERE size(vs) > 0
WITH run, u, basis, size(vs) AS neighbours,
     [d IN range(0, run.dim - 1) | reduce(s = 0.0, w IN vs | s + w[d]) / size(vs)] AS v
WITH run, u, basis, neighbours, v + [0.0] AS q, sqrt(reduce(s = 0.0, x IN v | s + x * x)) AS qn
WHERE 0.0 < qn < toFloat('Infinity')
OPTIONAL MATCH (u)-[r:{{interactions}}]->(s:{{item}})
WHERE $seen_splits IS NULL OR r.split IN $seen_splits
WITH run, basis, neighbours, q, qn, collect(s) AS seen
MATCH (i:{{item}})
WITH run, basis, neighbours, q, qn, seen, i, i[run.mips_property] AS iv
WHERE iv IS NOT NULL AND any(c IN iv WHERE c <> 0.0)
  AND NOT i IN seen
  AND ($exclude IS NULL OR NOT toString({{item_key:i}}) IN $exclude)
  AND ($entities IS NULL OR all(e IN $entities WHERE EXISTS { MATCH (i)-[:{{kg}}]-(x) WHERE x.id = e OR x.name = e }))
WITH run, basis, neighbours, i, (2.0 * vector.similarity.cosine(q, iv) - 1.0) * qn * run.max_norm AS score
ORDER BY score DESC, toString({{item_key:i}})
LIMIT $k
RETURN toString({{item_key:i}}) AS item, score, run.id AS run, coalesce(i.title, i.name) AS name, basis, neighbours

// name: cold_start_similar_items
// The $k items most similar to an item with no embedding in the run yet: its vector is the mean of the embeddings
// of the items that share a KG entity with it, or when there are none, of the users who interacted with it
// (LightGCN's one-hop propagation). Parameters: $item, $k, $run, $exclude. Also returns basis and neighbours.
MATCH (run:ModelRun)
WHERE CASE WHEN $run IS NULL THEN run.serving = true ELSE run.id = $run END
WITH run ORDER BY run.switched_at DESC LIMIT 1
MATCH (t:{{item}}) WHERE {{item_key:t}} = $item
OPTIONAL MATCH (t)-[:{{kg}}]-(x)-[:{{kg}}]-(n:{{item}})
WHERE n <> t AND NOT x:{{item}} AND n[run.item_property] IS NOT NULL
WITH run, t, collect(DISTINCT n) AS items
OPTIONAL MATCH (t)<-[:{{interactions}}]-(w:{{user}})
WHERE w[run.user_property] IS NOT NULL
WITH run, t, items, collect(DISTINCT w) AS users
WITH run, t, CASE WHEN size(items) > 0 THEN 'kg items' ELSE 'users' END AS basis,
     CASE WHEN size(items) > 0 THEN [n IN items | n[run.item_property]]
          ELSE [w IN users | w[run.user_property]] END AS vs
WHERE size(vs) > 0
WITH run, t, basis, size(vs) AS neighbours,
     [d IN range(0, run.dim - 1) | reduce(s = 0.0, x IN vs | s + x[d]) / size(vs)] AS v
WHERE 0.0 < sqrt(reduce(s = 0.0, x IN v | s + x * x)) < toFloat('Infinity')
MATCH (i:{{item}})
WITH run, t, basis, neighbours, v, i, i[run.item_property] AS iv
WHERE i <> t AND iv IS NOT NULL AND any(c IN iv WHERE c <> 0.0) AND ($exclude IS NULL OR NOT toString({{item_key:i}}) IN $exclude)
WITH run, basis, neighbours, i, 2.0 * vector.similarity.cosine(v, iv) - 1.0 AS score
ORDER BY score DESC, toString({{item_key:i}})
LIMIT $k
RETURN toString({{item_key:i}}) AS item, score, run.id AS run, coalesce(i.title, i.name) AS name, basis, neighbours

// name: walk_for_user
// Top-$k items for $user from a graph filter's item–item part, computed at query time by the walk
// user → item → user → item over the interactions with degree weights, plus the run's low-pass embeddings:
//   score(u, j) = Σ_{i ∈ N(u)} Σ_{v ∈ N(i)} d_i^-b · d_v^-a · d_j^-b  +  user_emb(u) · item_emb(j)
// with a = run.walk_user_power and b = run.walk_item_power (GF-CF: 1 and ½, so that the walk is r_u R̃ᵀR̃,
// R̃ = D_U^-½ R D_I^-½). The graph is read as it is now, so an interaction added a moment ago counts at once.
// Candidates: every item the walk reaches, and the $fetch best by the low-pass part (the run's vector index), each
// scored exactly by both terms. $walk_splits: null walks every interaction; ['train'] only the training ones (to
// compare with offline evaluation). Other parameters as for_user.
MATCH (run:ModelRun)
WHERE CASE WHEN $run IS NULL THEN run.serving = true ELSE run.id = $run END
WITH run ORDER BY run.switched_at DESC LIMIT 1
MATCH (u:{{user}}) WHERE {{user_key:u}} = $user AND run.walk_user_power IS NOT NULL
OPTIONAL MATCH (u)-[r:{{interactions}}]->(s:{{item}})
WHERE $seen_splits IS NULL OR r.split IN $seen_splits
WITH run, u, collect(s) AS seen
CALL {
  WITH run, u, seen
  MATCH (u)-[w:{{interactions}}]->(i:{{item}})
  WHERE $walk_splits IS NULL OR w.split IN $walk_splits
  WITH run, seen, i, COUNT { (i)<-[e:{{interactions}}]-(:{{user}}) WHERE $walk_splits IS NULL OR e.split IN $walk_splits } AS di
  MATCH (i)<-[w:{{interactions}}]-(v:{{user}})
  WHERE $walk_splits IS NULL OR w.split IN $walk_splits
  WITH run, seen, v, sum(di ^ (-run.walk_item_power)) AS via
  WITH run, seen, v, via * COUNT { (v)-[e:{{interactions}}]->(:{{item}}) WHERE $walk_splits IS NULL OR e.split IN $walk_splits } ^ (-run.walk_user_power) AS via
  MATCH (v)-[w:{{interactions}}]->(j:{{item}})
  WHERE ($walk_splits IS NULL OR w.split IN $walk_splits) AND NOT j IN seen
  WITH run, j, sum(via) AS walk
  RETURN collect([j, walk * COUNT { (j)<-[e:{{interactions}}]-(:{{user}}) WHERE $walk_splits IS NULL OR e.split IN $walk_splits } ^ (-run.walk_item_power)]) AS walked
}
WITH run, u, seen, walked, u[run.user_property] AS v
CALL {
  WITH run, seen, v
  WITH run, seen, v, v + [z IN range(1, run.index_pad) | 0.0] AS probe, sqrt(reduce(s = 0.0, x IN v | s + x * x)) AS qn
  WHERE v IS NOT NULL AND 0.0 < qn < toFloat('Infinity')
  CALL db.index.vector.queryNodes(run.index_name, $fetch, probe) YIELD node
  WHERE NOT node IN seen
  RETURN collect(node) AS fetched
}
WITH run, v, walked, fetched, [x IN walked | x[0]] AS reached
UNWIND walked + [n IN fetched WHERE NOT n IN reached | [n, 0.0]] AS candidate
WITH run, v, candidate[0] AS i, candidate[1] AS walk, sqrt(reduce(s = 0.0, x IN coalesce(v, []) | s + x * x)) AS qn
WHERE ($exclude IS NULL OR NOT toString({{item_key:i}}) IN $exclude)
  AND ($entities IS NULL OR all(e IN $entities WHERE EXISTS { MATCH (i)-[:{{kg}}]-(x) WHERE x.id = e OR x.name = e }))
WITH run, i, walk + CASE WHEN qn > 0.0 AND i[run.mips_property] IS NOT NULL AND any(c IN i[run.mips_property] WHERE c <> 0.0)
                         THEN (2.0 * vector.similarity.cosine(v + [0.0], i[run.mips_property]) - 1.0) * qn * run.max_norm
                         ELSE 0.0 END AS score
ORDER BY score DESC, toString({{item_key:i}})
LIMIT $k
RETURN toString({{item_key:i}}) AS item, score, run.id AS run, coalesce(i.title, i.name) AS name

// name: similar_walk_for_user
// A closed-form model's scores x S + low-pass, with S read from the run's stored rows: the scores of
// (:Item)-[:GRAPHREC_SIMILAR {score, run}]->(:Item) (each item's top-s entries of its row of S, written by graphrec
// publish, graphrec.itemgraph: GF-CF's R̃ᵀR̃, ItemKNN's neighbour lists, EASE^R's B ...) summed over the items the
// user has now, plus the low-pass term of walk_for_user (when the run has embeddings) over the same kind of
// candidates. A user's newest interaction counts at once; the rows are as of the last publish. Parameters as
// walk_for_user.
MATCH (run:ModelRun)
WHERE CASE WHEN $run IS NULL THEN run.serving = true ELSE run.id = $run END
WITH run ORDER BY run.switched_at DESC LIMIT 1
MATCH (u:{{user}}) WHERE {{user_key:u}} = $user AND run.similar_k IS NOT NULL
OPTIONAL MATCH (u)-[r:{{interactions}}]->(s:{{item}})
WHERE $seen_splits IS NULL OR r.split IN $seen_splits
WITH run, u, collect(s) AS seen
CALL {
  WITH run, u, seen
  MATCH (u)-[w:{{interactions}}]->(:{{item}})-[sim:GRAPHREC_SIMILAR]->(j:{{item}})
  WHERE ($walk_splits IS NULL OR w.split IN $walk_splits) AND sim.run = run.id AND NOT j IN seen
  WITH j, sum(sim.score) AS walk
  RETURN collect([j, walk]) AS walked
}
WITH run, u, seen, walked, u[run.user_property] AS v
CALL {
  WITH run, seen, v
  WITH run, seen, v, v + [z IN range(1, run.index_pad) | 0.0] AS probe, sqrt(reduce(s = 0.0, x IN v | s + x * x)) AS qn
  WHERE v IS NOT NULL AND 0.0 < qn < toFloat('Infinity')
  CALL db.index.vector.queryNodes(run.index_name, $fetch, probe) YIELD node
  WHERE NOT node IN seen
  RETURN collect(node) AS fetched
}
WITH run, v, walked, fetched, [x IN walked | x[0]] AS reached
UNWIND walked + [n IN fetched WHERE NOT n IN reached | [n, 0.0]] AS candidate
WITH run, v, candidate[0] AS i, candidate[1] AS walk, sqrt(reduce(s = 0.0, x IN coalesce(v, []) | s + x * x)) AS qn
WHERE ($exclude IS NULL OR NOT toString({{item_key:i}}) IN $exclude)
  AND ($entities IS NULL OR all(e IN $entities WHERE EXISTS { MATCH (i)-[:{{kg}}]-(x) WHERE x.id = e OR x.name = e }))
WITH run, i, walk + CASE WHEN qn > 0.0 AND i[run.mips_property] IS NOT NULL AND any(c IN i[run.mips_property] WHERE c <> 0.0)
                         THEN (2.0 * vector.similarity.cosine(v + [0.0], i[run.mips_property]) - 1.0) * qn * run.max_norm
                         ELSE 0.0 END AS score
ORDER BY score DESC, toString({{item_key:i}})
LIMIT $k
RETURN toString({{item_key:i}}) AS item, score, run.id AS run, coalesce(i.title, i.name) AS name
