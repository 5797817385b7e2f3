// graphrec: set the parameters
:params {user: "u0001", item: "i0001", run: null, seen_splits: null, entities: null, exclude: null, items: ["i0001", "i0002"], directed: true};
:param k => 10;
:param fetch => 200;
:param limit => 5
