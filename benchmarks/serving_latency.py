"""Recommendation query latency through the driver, index path vs exact path, on a whole dataset.

    python benchmarks/serving_latency.py --data ../shared/data/lightgcn-gowalla --home /tmp/gr-bench

Starts (or reuses) an embedded server in --home, ingests the dataset when the graph is empty, makes one run of
64-d embeddings (``--embeddings svd``: a truncated SVD of the training interactions, structured like trained
embeddings; ``random``: Gaussian, the worst case for an approximate index), publishes it (timed), then times
``recommend.for_user_index`` and ``recommend.for_user`` for --users random users with 1 and 4 concurrent clients,
and measures how much of the exact top-k the index path finds. Prints a JSON report.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graphrec.config import load_settings  # noqa: E402
from graphrec.db.connect import connect  # noqa: E402
from graphrec.db.server import EmbeddedServer, free_port  # noqa: E402
from graphrec.export import export  # noqa: E402
from graphrec.ingest import ingest_files  # noqa: E402
from graphrec.publish import publish, switch  # noqa: E402
from graphrec.recommend import default_fetch  # noqa: E402
from graphrec.runs import save_run  # noqa: E402


def embeddings(data, maps, kind: str, dim: int, seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    n_u, n_i = len(maps.ids["user"]), len(maps.ids["item"])
    if kind == "random":
        return {"user": torch.randn(n_u, dim), "item": torch.randn(n_i, dim) * (0.5 + torch.rand(n_i, 1))}
    rel = data["user", "interacted", "item"]
    ei = rel.edge_index[:, rel.split == 0]
    deg_u = torch.bincount(ei[0], minlength=n_u).clamp_min(1).float()
    deg_i = torch.bincount(ei[1], minlength=n_i).clamp_min(1).float()
    values = 1.0 / (deg_u[ei[0]].sqrt() * deg_i[ei[1]].sqrt())
    matrix = torch.sparse_coo_tensor(ei, values, (n_u, n_i)).coalesce()
    u, s, v = torch.svd_lowrank(matrix, q=dim, niter=4)
    return {"user": u * s.sqrt(), "item": v * s.sqrt()}


def percentiles(ms: list[float]) -> dict:
    q = np.percentile(ms, [50, 95, 99])
    return {"p50_ms": round(float(q[0]), 2), "p95_ms": round(float(q[1]), 2), "p99_ms": round(float(q[2]), 2),
            "mean_ms": round(statistics.fmean(ms), 2), "queries": len(ms)}


def time_queries(graph, name: str, users: list[str], clients: int, **params) -> tuple[dict, dict]:
    """Run ``name`` once per user, spread over ``clients`` threads (one driver); latency per query in ms."""
    chunks = [users[c::clients] for c in range(clients)]
    latencies: list[float] = []
    answers: dict[str, list[str]] = {}
    lock = threading.Lock()

    def client(chunk):
        mine = []
        for user in chunk:
            t = time.perf_counter()
            rows = graph.read(name, user=user, **params)
            mine.append((time.perf_counter() - t) * 1000)
            answers[user] = [r["item"] for r in rows]
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(chunk,)) for chunk in chunks]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    return {**percentiles(latencies), "clients": clients, "qps": round(len(latencies) / wall, 1)}, answers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "lightgcn-gowalla"))
    ap.add_argument("--format", default="lightgcn")
    ap.add_argument("--home", default="/tmp/graphrec-bench-serving")
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--exact-users", type=int, default=1000)
    ap.add_argument("-k", type=int, default=20)
    ap.add_argument("--fetch", type=int, default=None)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--embeddings", choices=["svd", "random"], default="svd")
    ap.add_argument("--clients", default="1,4")
    ap.add_argument("--heap", default="2g")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reuse", action="store_true", help="Serve the run as published before instead of publishing it "
                    "again (a re-publish rewrites every vector, and the index then rebuilds in the background).")
    args = ap.parse_args()

    server = EmbeddedServer(args.home, free_port(), free_port(), heap=args.heap)
    status = server.start()
    settings = load_settings(home=args.home, environ={}, bolt_port=int(status.uri.rsplit(":", 1)[1]),
                             http_port=int(status.http_url.rsplit(":", 1)[1]))
    report: dict = {"data": args.data, "embeddings": args.embeddings, "k": args.k}
    with connect(settings) as graph:
        if graph.query("MATCH (i:Item) RETURN count(i) AS n")[0]["n"] == 0:
            t = time.perf_counter()
            ingest_files(graph, args.format, args.data)
            report["ingest_s"] = round(time.perf_counter() - t, 1)
        data, maps = export(graph)
        report["users"], report["items"] = len(maps.ids["user"]), len(maps.ids["item"])
        emb = embeddings(data, maps, args.embeddings, args.dim, args.seed)
        run = save_run(Path(args.home) / "runs", {"id": f"bench-{args.embeddings}-{args.dim}-{args.seed}",
                                                  "model": args.embeddings}, maps, emb)
        if args.reuse and graph.read("publish.get_run", id=run.id):
            switch(graph, run.id)
        else:
            t = time.perf_counter()
            report["index"] = publish(graph, run).index
            report["publish_s"] = round(time.perf_counter() - t, 1)

        rng = random.Random(args.seed)
        users = rng.sample(maps.ids["user"], args.users)
        fetch = args.fetch or default_fetch(args.k)
        report["fetch"] = fetch
        common = dict(k=args.k, run=None, entities=None, exclude=None, seen_splits=None)
        graph.read("recommend.for_user_index", user=users[0], fetch=fetch, **common)  # warm-up
        report["index_path"], report["exact_path"] = [], []
        for clients in [int(c) for c in args.clients.split(",")]:
            stats, index_answers = time_queries(graph, "recommend.for_user_index", users, clients, fetch=fetch, **common)
            report["index_path"].append(stats)
            print(json.dumps({"index_path": stats}), file=sys.stderr)
            stats, exact_answers = time_queries(graph, "recommend.for_user", users[:args.exact_users], clients, **common)
            report["exact_path"].append(stats)
            print(json.dumps({"exact_path": stats}), file=sys.stderr)
        found = sum(len(set(index_answers[u]) & set(exact_answers[u])) for u in exact_answers)
        total = sum(len(exact_answers[u]) for u in exact_answers)
        report["index_recall_of_exact_top_k"] = round(found / total, 4)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
