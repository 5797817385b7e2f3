// Write-back: one training run's embeddings as node properties, its (:ModelRun) node, and which run is served.
//
// Every run writes its own properties, so publishing never touches what the served run reads:
//   User.graphrec_emb_<run>   the user embedding (list of floats, d)
//   Item.graphrec_emb_<run>   the item embedding (d)
//   Item.graphrec_mips_<run>  the item embedding augmented for inner-product search with cosine:
//                             [x, sqrt(M² − |x|²)] (d + 1)
// User and Item are the graph mapping's labels ({{user}}, {{item}}: graphrec's own, or the user's Customer, Movie
// ...); the graphrec_ prefix keeps these properties apart from the user's own, which publish never writes.
// <run> is the run id made identifier-safe (graphrec.publish.RunProperties). The (:ModelRun) node records those
// names, so serving queries read them from the run they serve and one query never mixes two runs.
// {{slots}} are those property / index names, checked by graphrec.db.names; values are $parameters.

// name: begin_run
// Creates (or refreshes, on a re-publish) the (:ModelRun) node of run $run.id with status 'publishing'.
// $run: {id, model, params, metrics, counts (JSON text: Neo4j properties cannot be maps), created_at, dim,
//        max_norm, user_property, item_property, mips_property, index_name, index_pad}.
MERGE (r:ModelRun {id: $run.id})
ON CREATE SET r.serving = false
SET r += $run, r.status = 'publishing'
RETURN r.id AS id, r.serving AS serving

// name: write_user_embeddings
// $rows: [{id, v}]: a user's business id (as the graph stores it) and embedding. Slots: property, and the
// mapping's user label and key.
UNWIND $rows AS row
MATCH (u:{{user}}) WHERE {{user_key:u}} = row.id
SET u.{{property}} = row.v
RETURN count(u) AS written

// name: write_item_embeddings
// $rows: [{id, v, a}]: an item's business id, embedding and MIPS augmentation. Slots: property, mips.
UNWIND $rows AS row
MATCH (i:{{item}}) WHERE {{item_key:i}} = row.id
SET i.{{property}} = row.v, i.{{mips}} = row.a
RETURN count(i) AS written

// name: create_vector_index
// The run's item vector index (Lucene HNSW, cosine over Item.mips_<run>), Neo4j 5.23 or later. Slots: index,
// property. $dimensions: d + 1; $quantization (int8 vectors in the HNSW graph), $m (links per node) and
// $ef_construction (candidates kept while linking): graphrec.publish.IndexOptions, whose defaults were measured
// on Gowalla (BENCHMARKS.md, Serving). Neo4j's own defaults: true, 16, 100.
CREATE VECTOR INDEX {{index}} IF NOT EXISTS
FOR (i:{{item}}) ON (i.{{property}})
OPTIONS {indexConfig: {`vector.dimensions`: $dimensions, `vector.similarity_function`: 'cosine',
                       `vector.quantization.enabled`: $quantization, `vector.hnsw.m`: $m,
                       `vector.hnsw.ef_construction`: $ef_construction}}

// name: create_vector_index_5_18
// The same index on Neo4j 5.18–5.22, which take no quantization or HNSW settings (the server's defaults apply).
CREATE VECTOR INDEX {{index}} IF NOT EXISTS
FOR (i:{{item}}) ON (i.{{property}})
OPTIONS {indexConfig: {`vector.dimensions`: $dimensions, `vector.similarity_function`: 'cosine'}}

// name: await_index
// Waits up to $seconds for index $index to come online (Neo4j populates vector indexes in the background).
CALL db.awaitIndex($index, $seconds)

// name: index_config
// The settings and state of vector index $index as the server built it (no row when there is none).
SHOW VECTOR INDEXES YIELD name, state, options
WHERE name = $index
RETURN state, options.indexConfig AS config

// name: drop_vector_index
// Slots: index.
DROP INDEX {{index}} IF EXISTS

// name: finish_run
// Marks run $id ready to serve, with what was written ($similar: each item's stored neighbours, or null).
MATCH (r:ModelRun {id: $id})
SET r.status = 'ready', r.published_at = $now, r.users_written = $users, r.items_written = $items,
    r.similar_k = $similar
RETURN r.id AS id

// name: record_fold_in
// Records on run $id that $users users and $items items were folded in (graphrec.foldin) just now.
MATCH (r:ModelRun {id: $id})
SET r.folded_users = coalesce(r.folded_users, 0) + $users, r.folded_items = coalesce(r.folded_items, 0) + $items,
    r.folded_at = toString(datetime())
RETURN r.id AS id

// name: switch
// Serves run $id from now on. One statement, so one transaction: its ModelRun gets serving = true and every other
// run false, together. A run must be 'ready' (fully written) to be served. $now: the time of the switch.
MATCH (target:ModelRun {id: $id})
WHERE target.status = 'ready'
SET target.switched_at = $now
WITH target
MATCH (r:ModelRun)
SET r.serving = (r.id = target.id)
RETURN target.id AS id, count(r) AS runs

// name: runs
// Every published run, oldest first, with whether it is the one served.
MATCH (r:ModelRun)
RETURN r.id AS id, r.model AS model, r.status AS status, coalesce(r.serving, false) AS serving,
       r.created_at AS created_at, r.published_at AS published_at, r.switched_at AS switched_at,
       r.metrics AS metrics, r.dim AS dim, r.users_written AS users, r.items_written AS items
ORDER BY r.created_at, r.id

// name: get_run
// The whole (:ModelRun) node of run $id (no row when there is none).
MATCH (r:ModelRun {id: $id})
RETURN properties(r) AS run

// name: remove_property
// Removes property {{property}} from up to $batch nodes of one label; run until it returns 0. Slots: label, property.
MATCH (n:{{label}})
WHERE n.{{property}} IS NOT NULL
WITH n LIMIT $batch
REMOVE n.{{property}}
RETURN count(n) AS removed

// name: delete_run
// Deletes the (:ModelRun) node of run $id unless it is the one served.
MATCH (r:ModelRun {id: $id})
WHERE NOT coalesce(r.serving, false)
DETACH DELETE r
RETURN count(*) AS deleted

// name: item_element_ids
// Every item's business id (as text) and element id, for writing relationships between items.
MATCH (i:{{item}})
RETURN toString({{item_key:i}}) AS id, elementId(i) AS eid

// name: write_similar
// A graph filter's item–item neighbours (graphrec.itemgraph): $rows [{a, b: [element ids], s: [scores]}], one
// relationship per pair, tagged with run $run.
UNWIND $rows AS row
MATCH (a:{{item}}) WHERE elementId(a) = row.a
UNWIND range(0, size(row.b) - 1) AS n
MATCH (b:{{item}}) WHERE elementId(b) = row.b[n]
CREATE (a)-[:GRAPHREC_SIMILAR {score: row.s[n], run: $run}]->(b)

// name: drop_similar
// Deletes run $run's item–item neighbours, in batches (an auto-commit transaction).
MATCH (:{{item}})-[s:GRAPHREC_SIMILAR]->()
WHERE s.run = $run
CALL { WITH s DELETE s } IN TRANSACTIONS OF 50000 ROWS
