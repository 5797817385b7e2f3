"""Ingest speed: the whole Gowalla split (1,027,370 interactions) into a fresh embedded server.

Prints edges/s, each on its own fresh database in the same run, for graphrec's two write paths (``bulk``: the
embedded server's batch endpoint, the default there; ``cypher``: grouped ``UNWIND $rows`` statements, the path Neo4j
gets) and for the naive one-row-per-edge pattern ``UNWIND $rows AS row MATCH (u) MATCH (i) CREATE (u)-[:INTERACTED]->(i)``.

    .venv/bin/python benchmarks/bench_ingest.py [--data ../shared/data/lightgcn-gowalla] [--naive-edges 300000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import loaders
from graphrec.config import load_settings
from graphrec.db.connect import connect
from graphrec.db.server import EmbeddedServer, free_port
from graphrec.ingest import ingest

NAIVE = ("UNWIND $rows AS row MATCH (u:User {id: row.user}) MATCH (i:Item {id: row.item}) "
         "CREATE (u)-[:INTERACTED {split: row.split}]->(i)")


def fresh_graph(home: Path):
    settings = load_settings(home=str(home), environ={}, bolt_port=free_port(), http_port=free_port())
    return connect(settings), EmbeddedServer(home)


def main() -> None:
    repo = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(repo.parent / "shared" / "data" / "lightgcn-gowalla"))
    parser.add_argument("--paths", nargs="+", default=["bulk", "cypher"], choices=["bulk", "cypher"])
    parser.add_argument("--naive-edges", type=int, default=300_000,
                        help="edges written with the naive pattern (it is slow; 0 skips it)")
    args = parser.parse_args()

    print(f"load average at the start: {os.getloadavg()[0]:.2f}")
    t = time.perf_counter()
    dataset = loaders.load("lightgcn", args.data, names=False)
    n = len(dataset.interactions)
    print(f"parsed {n:,} interactions in {time.perf_counter() - t:.1f}s")

    work = Path(tempfile.mkdtemp(prefix="graphrec-bench-ingest-"))
    try:
        rates = {}
        for path in args.paths:
            graph, server = fresh_graph(work / path)
            with graph:
                report = ingest(graph, dataset, write_path=path)
                second = ingest(graph, dataset, write_path=path)
            server.stop()
            rates[path] = report.interactions_per_second
            print(f"graphrec ({path} write path): {report.created['interactions']:,} edges in "
                  f"{report.seconds['interactions']:.1f}s = {rates[path]:,.0f} edges/s (nodes "
                  f"{report.seconds['nodes']:.1f}s, whole ingest {report.seconds['total']:.1f}s); second run created "
                  f"{sum(second.created.values())} in {second.seconds['total']:.1f}s", flush=True)

        if args.naive_edges:
            graph, server = fresh_graph(work / "naive")
            with graph:
                graph.apply_schema()
                users = sorted({it.user for it in dataset.interactions})
                items = sorted({it.item for it in dataset.interactions})
                for label, ids in (("User", users), ("Item", items)):
                    graph.write_batches("ingest.create_nodes", [[{"id": i} for i in ids[k:k + 10_000]]
                                                                for k in range(0, len(ids), 10_000)],
                                        identifiers={"label": label})
                rows = [{"user": it.user, "item": it.item, "split": it.split}
                        for it in dataset.interactions[:args.naive_edges]]
                t = time.perf_counter()
                with graph.driver.session(database=graph.database) as session:
                    for k in range(0, len(rows), 10_000):
                        session.execute_write(lambda tx, b=rows[k:k + 10_000]: tx.run(NAIVE, rows=b).consume())
                naive_rate = len(rows) / (time.perf_counter() - t)
            server.stop()
            print(f"naive per-row UNWIND/MATCH/MATCH/CREATE (batches of 10,000): {len(rows):,} edges at "
                  f"{naive_rate:,.0f} edges/s")
            for path, rate in rates.items():
                print(f"graphrec's {path} path is {rate / naive_rate:.1f}x the naive pattern")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
