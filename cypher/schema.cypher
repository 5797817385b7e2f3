// graphrec's schema: applied before every write, idempotent (IF NOT EXISTS), in this order.
// Business ids are unique per label; MERGE and MATCH on {id} use these constraints' indexes.

// name: user_id_unique
CREATE CONSTRAINT graphrec_user_id IF NOT EXISTS FOR (n:User) REQUIRE n.id IS UNIQUE

// name: item_id_unique
CREATE CONSTRAINT graphrec_item_id IF NOT EXISTS FOR (n:Item) REQUIRE n.id IS UNIQUE

// name: entity_id_unique
CREATE CONSTRAINT graphrec_entity_id IF NOT EXISTS FOR (n:Entity) REQUIRE n.id IS UNIQUE

// name: model_run_id_unique
CREATE CONSTRAINT graphrec_model_run_id IF NOT EXISTS FOR (n:ModelRun) REQUIRE n.id IS UNIQUE

// name: source_key_unique
CREATE CONSTRAINT graphrec_source_key IF NOT EXISTS FOR (n:GraphrecSource) REQUIRE n.key IS UNIQUE
