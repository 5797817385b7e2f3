// Small statements about the database itself.

// name: ping
// Returns one row; used to check that a connection works.
RETURN 1 AS ok

// name: clear
// Deletes every node and relationship, 10,000 nodes a transaction (one transaction for a whole graph can exhaust
// the server's memory). CALL {} IN TRANSACTIONS runs only in an auto-commit transaction (Graph.autocommit).
// Used by tests and `graphrec db reset`; never called implicitly.
MATCH (n)
CALL { WITH n DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS

// name: graphrec_indexes
// The vector indexes graphrec created (its published runs'): their names start with graphrec_.
SHOW VECTOR INDEXES YIELD name
WHERE name STARTS WITH 'graphrec_'
RETURN name

// name: drop_index
// Slots: index.
DROP INDEX {{index}} IF EXISTS

// name: test_merge_users
// Merges one User per row ({id}). Used by the test suite to exercise batched writes.
UNWIND $rows AS row
MERGE (:User {id: row.id})
