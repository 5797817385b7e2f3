"""Recommendation latency through the driver, index path and exact path side by side, on a served run.

    GRAPHREC_HOME=HOME python benchmarks/serving_latency.py --users 500 --clients 1,4

Reads the graph and runs of the configured home the way the CLI does (ingest, train and publish a run first:
`graphrec ingest`, `graphrec train`). For run --run (default: the one served) and --users users drawn with --seed
(the same draw as benchmarks/index_recall.py), it times :func:`graphrec.recommend.recommend` on the index path
(--fetch, default :func:`graphrec.recommend.default_fetch`) and on the exact path, for the same users, one query at
a time per client with 1 and 4 concurrent clients (threads sharing one driver), the two paths alternating per
client count; and counts how much of the exact path's top-k the index path returns. The run's vector index is used
as it is (built by `graphrec publish` with :class:`graphrec.publish.IndexOptions`; its settings are reported).
Prints a table and a JSON report.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graphrec import recommend as rec  # noqa: E402
from graphrec.config import load_settings  # noqa: E402
from graphrec.db.connect import connect  # noqa: E402
from graphrec.publish import index_config  # noqa: E402
from benchmarks._serving import add_run_arguments, percentiles, run_and_users  # noqa: E402


def time_path(graph, users: list[str], clients: int, **query) -> tuple[dict, dict[str, list[str]]]:
    """:func:`graphrec.recommend.recommend` once per user, the users spread over ``clients`` threads (one driver);
    latency per query in ms, and each user's answer."""
    chunks = [users[c::clients] for c in range(clients)]
    latencies: list[float] = []
    answers: dict[str, list[str]] = {}
    lock = threading.Lock()
    failures: list[BaseException] = []

    def client(chunk: list[str]) -> None:
        mine = []
        try:
            for user in chunk:
                start = time.perf_counter()
                rows = rec.recommend(graph, user, cold_start=False, **query)
                mine.append((time.perf_counter() - start) * 1000)
                answers[user] = [r["item"] for r in rows]
        except BaseException as exc:   # surfaced below: a failed query must not pass as a fast one
            failures.append(exc)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(chunk,)) for chunk in chunks]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    if failures:
        raise failures[0]
    return {**percentiles(latencies), "clients": clients, "qps": round(len(latencies) / wall, 1)}, answers


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_arguments(ap)
    ap.add_argument("--fetch", type=int, default=None, help="index path candidates (default: graphrec's)")
    ap.add_argument("--clients", default="1,4")
    ap.add_argument("--warmup", type=int, default=20, help="untimed queries per path first")
    args = ap.parse_args(argv)

    settings = load_settings(home=args.home)
    fetch = args.fetch or rec.default_fetch(args.k)
    report: dict = {"k": args.k, "fetch": fetch, "users": args.users, "seed": args.seed}
    with connect(settings) as graph:
        run, users = run_and_users(graph, settings.runs_dir, args.run, args.users, args.seed)
        run_id = run.id
        report.update(run=run_id, server=graph.dialect.agent, index=index_config(graph, run_id))
        paths = {"index": dict(path="index", fetch=fetch), "exact": dict(path="exact")}
        for query in paths.values():
            for user in users[:args.warmup]:
                rec.recommend(graph, user, args.k, run=run_id, cold_start=False, **query)
        report["latency"] = []
        print("| path | clients | p50 ms | p95 ms | p99 ms | mean ms | queries/s |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        answers: dict[str, dict] = {}
        for clients in [int(c) for c in args.clients.split(",")]:
            for name, query in paths.items():
                stats, answers[name] = time_path(graph, users, clients, k=args.k, run=run_id, **query)
                report["latency"].append({"path": name, **stats})
                print(f"| {name} | {clients} | {stats['p50_ms']} | {stats['p95_ms']} | {stats['p99_ms']} | "
                      f"{stats['mean_ms']} | {stats['qps']} |", flush=True)
        found = sum(len(set(answers["index"][u]) & set(answers["exact"][u])) for u in users)
        total = sum(len(answers["exact"][u]) for u in users)
        report["index_share_of_exact_top_k"] = round(found / total, 4)
    print(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
