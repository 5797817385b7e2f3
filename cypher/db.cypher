// Small statements about the database itself.

// name: ping
// Returns one row; used to check that a connection works.
RETURN 1 AS ok

// name: clear
// Deletes every node and relationship. Used by tests and `graphrec db reset`; never called implicitly.
MATCH (n) DETACH DELETE n

// name: test_merge_users
// Merges one User per row ({id}). Used by the test suite to exercise batched writes.
UNWIND $rows AS row
MERGE (:User {id: row.id})
