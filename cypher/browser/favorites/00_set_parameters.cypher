// graphrec: set the parameters
:params {user: "u0001", item: "i0001", k: 10, fetch: 200, run: null, seen_splits: null, entities: null, exclude: null, limit: 5, items: ["i0001", "i0002"]}
