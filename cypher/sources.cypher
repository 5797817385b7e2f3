// Where the graph's data came from: one (:GraphrecSource {key}) per dataset graphrec ingested (key
// "<format>:<name>", e.g. movielens:ml-100k), and graphrec_source = that key on the User, Item and Entity nodes it
// created. An ingest reads these first and refuses to mix a second dataset into the graph unless asked (--merge).

// name: all
// Every recorded source, oldest first.
MATCH (s:GraphrecSource)
RETURN s.key AS key, s.format AS format, s.name AS name, s.path AS path, s.status AS status,
       s.started_at AS started_at, s.finished_at AS finished_at, coalesce(s.merged, false) AS merged
ORDER BY s.started_at, s.key

// name: foreign_nodes
// Among $ids of one label, the nodes that exist and do not come from source $key (another dataset's, or of no
// recorded source when $unsourced_ok is false): how many per source, and a few ids. Slots: label.
UNWIND $ids AS id
MATCH (n:{{label}} {id: id})
WHERE n.graphrec_source IS NULL AND NOT $unsourced_ok OR n.graphrec_source <> $key
RETURN n.graphrec_source AS source, count(n) AS n, collect(id)[..3] AS examples

// name: begin
// Records that the ingest of $source.key started: $source holds the new node's properties (graphrec.provenance.record:
// key, format, name, path, merged, status 'ingesting', started_at). An ingest of a dataset already recorded changes
// nothing here (ingesting the same files again changes nothing at all), except that --merge is remembered.
MERGE (s:GraphrecSource {key: $source.key})
ON CREATE SET s += $source
WITH s
WHERE $merged AND NOT coalesce(s.merged, false)
SET s.merged = true

// name: mark_nodes
// Marks nodes of one label among $ids as coming from $key where they have no source yet. Slots: label.
UNWIND $ids AS id
MATCH (n:{{label}} {id: id})
WHERE n.graphrec_source IS NULL
SET n.graphrec_source = $key
RETURN count(n) AS marked

// name: finish
// Marks the ingest of $key done, the first time it completes.
MATCH (s:GraphrecSource {key: $key})
WHERE s.status <> 'ingested'
SET s.status = 'ingested', s.finished_at = $now
