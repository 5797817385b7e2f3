"""A graph filter served from the graph (issue 31): GF-CF's item–item part walked in Cypher at query time, against
top-s item–item neighbours stored as relationships, each plus the run's low-pass embeddings; latency and the share
of the in-memory model's exact top-k.

    graphrec --home H ingest lightgcn ../shared/data/lightgcn-gowalla
    graphrec --home H train --model gfcf --threads 2            # fitted on every stored train edge, published
    GRAPHREC_HOME=H python benchmarks/walk_serving.py --users 300 --walk-users 40 --similar 50,100

For run --run (default: the one served, a GF-CF run) and --users users drawn with --seed (as the other serving
benchmarks draw them), the reference is the in-memory model's exact top-k (``model.score`` with the user's training
items masked, the edges it was fitted on). Each path is timed one query at a time (after --warmup untimed queries)
and its share is the number of reference items it returns over k times the users:

* ``walk, index``: :func:`graphrec.recommend.recommend` as served (``recommend.walk_for_user``: the walk user → item
  → user → item with degree weights at query time, plus the low-pass term over the walked items and the index's best);
* ``walk, exact``: the same with ``path='exact'`` (the low-pass term over every item);
* ``walk, index, every interaction`` (``--paths walk-all``): the served default ``walk_splits=None``, which walks
  the test edges too, so its share is not comparable: it is there for its latency;
* ``low-pass only``: the run's embeddings alone on the index path (``recommend.for_user_index``), what serving gave
  before the walk;
* ``similar s``: the item–item part read from top-s neighbour relationships
  ``(:Item)-[:GRAPHREC_SIMILAR {score, run}]->(:Item)``, summed over the user's training items, plus the same
  low-pass term (:func:`similar_for_user`). The neighbours are the s largest off-diagonal entries of each row of
  R̃ᵀR̃ (the model's own R̃), computed in blocks of --block items (never the item x item matrix) and written in
  batches; for several s, only the ranks each adds are written, so the build and write seconds of an s are
  cumulative. They are deleted at the end unless --keep-similar.

The walk paths take seconds per query on Gowalla, so they are timed on the first --walk-users of the sample.
Queries run against graphrec's default schema (:User, :Item, :INTERACTED with a ``split``). Prints a table and
appends one JSON line per path to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graphrec import recommend as rec  # noqa: E402
from graphrec.config import load_settings  # noqa: E402
from graphrec.db.connect import connect  # noqa: E402
from graphrec import itemgraph  # noqa: E402
from benchmarks._serving import add_run_arguments, percentiles, reference_top_k, run_and_users  # noqa: E402

SIMILAR = "GRAPHREC_SIMILAR"

WRITE_SIMILAR = f"""
UNWIND $rows AS row
MATCH (a) WHERE elementId(a) = row.a
UNWIND range(0, size(row.b) - 1) AS n
MATCH (b) WHERE elementId(b) = row.b[n]
CREATE (a)-[:{SIMILAR} {{score: row.s[n], run: $run}}]->(b)
"""

DELETE_SIMILAR = f"""
MATCH (:Item)-[s:{SIMILAR}]->(:Item) WHERE s.run = $run
CALL {{ WITH s DELETE s }} IN TRANSACTIONS OF 50000 ROWS
"""

# The item–item part read from the stored neighbours instead of walked: it replaces the walk's CALL {} in
# recommend.walk_for_user (similar_for_user), which keeps the same candidates (the items reached, and $fetch more
# from the vector index) and the same low-pass term.
SIMILAR_SUM = f"""CALL {{
  WITH run, u, seen
  MATCH (u)-[w:INTERACTED]->(:Item)-[sim:{SIMILAR}]->(j:Item)
  WHERE w.split IN $walk_splits AND sim.run = run.id AND NOT j IN seen
  WITH j, sum(sim.score) AS walk
  RETURN collect([j, walk]) AS walked
}}
"""


def similar_for_user(graph) -> str:
    walk = graph.text("recommend.walk_for_user")
    start, end = walk.index("CALL {"), walk.index("WITH run, u, seen, walked")
    if "walk_item_power" in walk[end:]:
        raise SystemExit("recommend.walk_for_user changed shape: the walk is no longer one CALL {} before "
                         "'WITH run, u, seen, walked'; update SIMILAR_SUM")
    return walk[:start] + SIMILAR_SUM + walk[end:]


def neighbours(model, s_from: int, s_to: int, block: int):
    """Ranks s_from+1..s_to of each item's neighbours by R̃ᵀR̃ (graphrec.itemgraph.neighbours)."""
    return itemgraph.neighbours(model, s_to, block, skip=s_from)


def write_similar(graph, run_id: str, model, ids, s_from: int, s_to: int, block: int, batch_rels: int) -> dict:
    """Compute and write ranks s_from+1..s_to of every item's neighbours; seconds computing and writing."""
    element = {r["id"]: r["eid"] for r in graph.query("MATCH (i:Item) RETURN i.id AS id, elementId(i) AS eid")}
    item_eid = [element[i] for i in ids.ids["item"]]
    compute_s, write_s, written = 0.0, 0.0, 0
    rows: list[dict] = []

    def flush(session) -> float:
        nonlocal rows
        t = time.perf_counter()
        session.execute_write(lambda tx: tx.run(WRITE_SIMILAR, rows=rows, run=run_id).consume())
        rows = []
        return time.perf_counter() - t

    with graph.driver.session(database=graph.database) as session:
        t = time.perf_counter()
        for start, values, indices in neighbours(model, s_from, s_to, block):
            for n in range(values.size(0)):
                keep = values[n] > 0
                targets = indices[n, keep].tolist()
                if targets:
                    rows.append({"a": item_eid[start + n], "b": [item_eid[j] for j in targets],
                                 "s": values[n, keep].tolist()})
                    written += len(targets)
                if len(rows) * (s_to - s_from) >= batch_rels:
                    compute_s += time.perf_counter() - t
                    write_s += flush(session)
                    t = time.perf_counter()
        compute_s += time.perf_counter() - t
        if rows:
            write_s += flush(session)
    return {"compute_s": round(compute_s, 1), "write_s": round(write_s, 1), "relationships": written}


def time_queries(users: list[str], ask, warmup: int) -> tuple[dict, dict[str, list[str]]]:
    for user in users[:warmup]:
        ask(user)
    latencies, answers = [], {}
    for user in users:
        start = time.perf_counter()
        answers[user] = ask(user)
        latencies.append((time.perf_counter() - start) * 1000)
    return percentiles(latencies), answers


def share(answers: dict[str, list[str]], reference: dict[str, list[str]], k: int) -> float:
    return round(sum(len(set(answers[u]) & set(reference[u])) for u in answers) / (k * len(answers)), 4)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_arguments(ap)
    ap.set_defaults(users=300)
    ap.add_argument("--walk-users", type=int, default=40, help="users (the sample's first) for the walk paths")
    ap.add_argument("--paths", default="lowpass,walk-index,walk-exact,similar",
                    help="which of lowpass, walk-index, walk-exact, walk-all, similar to measure")
    ap.add_argument("--similar", default="50,100", help="neighbours per item (s), ascending")
    ap.add_argument("--block", type=int, default=1024, help="items per block of R̃ᵀR̃ columns")
    ap.add_argument("--batch-rels", type=int, default=20_000, help="relationships per write transaction")
    ap.add_argument("--warmup", type=int, default=5, help="untimed queries per path first")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (scores, neighbours)")
    ap.add_argument("--keep-similar", action="store_true", help="leave the neighbour relationships in the graph")
    ap.add_argument("--out", default="benchmarks/results/walk_serving_gowalla.jsonl")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    paths = set(args.paths.split(","))
    sizes = [int(s) for s in args.similar.split(",")]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    settings = load_settings(home=args.home)
    k = args.k
    with connect(settings) as graph:
        run, users = run_and_users(graph, settings.runs_dir, args.run, args.users, args.seed)
        if run.meta.get("model") != "gfcf":
            raise SystemExit(f"run {run.id} is a {run.meta.get('model')} run; this benchmark measures a GF-CF run")
        model, ids = run.model(), run.ids()
        walk_users = users[:args.walk_users]
        t = time.perf_counter()
        reference = reference_top_k(model, ids, users, k)
        print(f"run {run.id} ({run.meta.get('params')}): the model's exact top-{k} of {len(users)} users in "
              f"{time.perf_counter() - t:.1f}s; load average {os.getloadavg()}", flush=True)
        query = dict(run=run.id, seen_splits=["train"], cold_start=False)
        common = dict(run=run.id, users=len(users), k=k, seed=args.seed, model_params=run.meta.get("params"))
        print("| path | users | p50 ms | p95 ms | p99 ms | share of exact top-k | build s | write s |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")

        def report(name: str, sample: list[str], stats: dict, answers, **extra) -> None:
            record = {**common, "path": name, "users": len(sample), "share": share(answers, reference, k),
                      **stats, **extra, "load": os.getloadavg()}
            with open(out, "a") as f:
                f.write(json.dumps(record) + "\n")
            print(f"| {name} | {len(sample)} | {stats['p50_ms']} | {stats['p95_ms']} | {stats['p99_ms']} | "
                  f"{record['share']:.4f} | {extra.get('compute_s', '')} | {extra.get('write_s', '')} |", flush=True)

        if "lowpass" in paths:
            fetch = rec.default_fetch(k)
            stats, answers = time_queries(users, lambda u: [r["item"] for r in graph.read(
                "recommend.for_user_index", user=graph.mapping.key("user", u), k=k, fetch=fetch, run=run.id,
                entities=None, exclude=None, seen_splits=["train"])], args.warmup)
            report("low-pass only (index)", users, stats, answers)
        for name, path, walk_splits in (("walk-index", "index", ["train"]), ("walk-exact", "exact", ["train"]),
                                        ("walk-all", "index", None)):
            if name in paths:
                stats, answers = time_queries(walk_users, lambda u: [r["item"] for r in rec.recommend(
                    graph, u, k, path=path, walk_splits=walk_splits, **query)], args.warmup)
                report(f"walk, {path}" + ("" if walk_splits else ", every interaction"), walk_users, stats, answers)
        if "similar" in paths:
            with graph.driver.session(database=graph.database) as session:
                session.run(DELETE_SIMILAR, run=run.id).consume()
            built = {"compute_s": 0.0, "write_s": 0.0, "relationships": 0}
            previous = 0
            fetch, statement = rec.default_fetch(k), similar_for_user(graph)
            for size in sizes:
                added = write_similar(graph, run.id, model, ids, previous, size, args.block, args.batch_rels)
                built = {key: round(built[key] + added[key], 1) for key in built}
                previous = size
                stats, answers = time_queries(users, lambda u: [r["item"] for r in graph.query(
                    statement, dict(run=run.id, user=graph.mapping.key("user", u), k=k, fetch=fetch,
                                    seen_splits=["train"], walk_splits=["train"], entities=None,
                                    exclude=None))], args.warmup)
                report(f"similar s={size}, index", users, stats, answers, **built)
            if not args.keep_similar:
                with graph.driver.session(database=graph.database) as session:
                    session.run(DELETE_SIMILAR, run=run.id).consume()
    return 0


if __name__ == "__main__":
    sys.exit(main())
