"""Ingest speed: the whole Gowalla split (1,027,370 interactions) into one fresh embedded Neo4j, in one run.

Measures, on the same server:

0. a warm-up on the freshly started JVM, so that no contender pays the JIT compiler alone: graphrec's generated sample
   graph (:func:`graphrec.sample.write_sample`, ~22,000 interactions) ingested, then the graph cleared;
1. graphrec's ingest, called as ``graphrec ingest lightgcn DATA`` calls it (the loader with its default options, then
   :func:`graphrec.ingest.ingest`) into the empty graph: edges/s of the interaction writes, the stages' seconds, and
   the whole ingest's edges/s;
2. a second run of the same ingest, which must create nothing (its seconds are the cost of idempotence);
3. the naive baseline, one ``MATCH (u:User {id: $user}), (i:Item {id: $item}) CREATE (u)-[:INTERACTED {split:
   $split}]->(i)`` statement per edge, each its own transaction, timed on the first ``--naive-edges`` edges (all of
   them would take many minutes); its edges go in beside graphrec's, into the same full graph;
4. the usual first improvement on it, one row per edge in ``UNWIND $rows`` batches of 20,000 with both ends matched
   through the id constraints' indexes, timed on the first ``--unwind-edges`` edges: what graphrec's grouped rows and
   element-id matches add on top of batching;
5. with that server stopped, the offline first load (:func:`graphrec.firstload.first_load`, what ``graphrec ingest``
   does for a home whose database was never created) into a second fresh home: the CSV files, Neo4j's importer, the
   server's first start and the schema, each timed. It is set beside the first start of the Bolt path's server plus
   its first ingest (on a JVM warmed up by the sample graph, which a real first ingest does not have).

    .venv/bin/python benchmarks/bench_ingest.py [--data ../shared/data/lightgcn-gowalla] [--writers N]
        [--batch-edges N] [--naive-edges 20000] [--unwind-edges 200000] [--heap 2g --pagecache 1g] [--no-offline]
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
from graphrec.firstload import first_load
from graphrec.ingest import BATCH_EDGES, WRITERS, ingest
from graphrec.sample import write_sample

NAIVE = "MATCH (u:User {id: $user}), (i:Item {id: $item}) CREATE (u)-[:INTERACTED {split: $split}]->(i)"
UNWIND = ("UNWIND $rows AS row MATCH (u:User {id: row.user}) MATCH (i:Item {id: row.item}) "
          "CREATE (u)-[:INTERACTED {split: row.split}]->(i)")
UNWIND_BATCH = 20_000


def naive_rate(graph, interactions) -> tuple[float, float]:
    """Seconds and edges/s of the naive pattern: one statement, one transaction, per edge."""
    start = time.perf_counter()
    for it in interactions:
        graph.query(NAIVE, {"user": it.user, "item": it.item, "split": it.split}, write=True, what="naive")
    seconds = time.perf_counter() - start
    return seconds, len(interactions) / seconds


def unwind_rate(graph, interactions) -> tuple[float, float]:
    """Seconds and edges/s of one row per edge in UNWIND batches, each batch one transaction."""
    rows = [{"user": it.user, "item": it.item, "split": it.split} for it in interactions]
    start = time.perf_counter()
    for k in range(0, len(rows), UNWIND_BATCH):
        graph.query(UNWIND, {"rows": rows[k:k + UNWIND_BATCH]}, write=True, what="unwind")
    seconds = time.perf_counter() - start
    return seconds, len(rows) / seconds


def main() -> None:
    repo = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(repo.parent / "shared" / "data" / "lightgcn-gowalla"))
    parser.add_argument("--writers", type=int, default=None, help=f"ingest's writers (default {WRITERS})")
    parser.add_argument("--batch-edges", type=int, default=None, help=f"ingest's batch size (default {BATCH_EDGES})")
    parser.add_argument("--naive-edges", type=int, default=20_000, help="edges timed with the naive pattern")
    parser.add_argument("--unwind-edges", type=int, default=200_000, help="edges timed with per-edge UNWIND rows")
    parser.add_argument("--heap", default=None, help="server heap (default: graphrec's setting)")
    parser.add_argument("--pagecache", default=None, help="server page cache (default: graphrec's setting)")
    parser.add_argument("--no-offline", dest="offline", action="store_false", help="skip the offline first load")
    args = parser.parse_args()

    print(f"cores: {os.cpu_count()}; load average at the start: {os.getloadavg()[0]:.2f}", flush=True)
    start = time.perf_counter()
    dataset = loaders.load("lightgcn", args.data)
    n = len(dataset.interactions)
    print(f"parsed and validated {n:,} interactions in {time.perf_counter() - start:.1f}s", flush=True)

    home = Path(tempfile.mkdtemp(prefix="graphrec-bench-ingest-"))
    settings = load_settings(home=str(home), environ={}, bolt_port=free_port(), http_port=free_port(),
                             server_heap=args.heap, server_pagecache=args.pagecache)
    try:
        start = time.perf_counter()
        with connect(settings) as graph:
            started = time.perf_counter() - start
            print(f"started {graph.dialect.agent} (heap {settings.server_heap}, page cache "
                  f"{settings.server_pagecache}) in {started:.1f}s", flush=True)
            warm = ingest(graph, loaders.load("csv", write_sample(home / "sample")), batch_edges=args.batch_edges,
                          writers=args.writers)
            graph.clear()
            print(f"warm-up on the fresh JVM: the sample graph's {warm.created['interactions']:,} interactions at "
                  f"{warm.interactions_per_second:,.0f} edges/s, then cleared", flush=True)
            first = ingest(graph, dataset, batch_edges=args.batch_edges, writers=args.writers)
            print(f"first ingest: created {first.created}; seconds {first.seconds}", flush=True)
            second = ingest(graph, dataset, batch_edges=args.batch_edges, writers=args.writers)
            print(f"second ingest: created {sum(second.created.values())}, updated {sum(second.updated.values())}, "
                  f"in {second.seconds['total']:.1f}s", flush=True)
            sample = dataset.interactions[:args.naive_edges]
            naive_seconds, naive = naive_rate(graph, sample)
            unwind_sample = dataset.interactions[:args.unwind_edges]
            unwind_seconds, unwind = unwind_rate(graph, unwind_sample)
    finally:
        EmbeddedServer.of(settings).stop()
        shutil.rmtree(home, ignore_errors=True)
    offline = first_load_rate(dataset, args) if args.offline else None

    edges = first.created["interactions"]
    whole = edges / first.seconds["total"]
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}\n")
    print(f"| Gowalla, {n:,} interactions | edges | seconds | edges/s | vs naive |")
    print("|---|---:|---:|---:|---:|")
    writers = args.writers or WRITERS
    print(f"| graphrec ingest, interaction writes ({writers} writer{'s' if writers > 1 else ''}, "
          f"{args.batch_edges or BATCH_EDGES:,} edges/transaction) | {edges:,} | {first.seconds['interactions']:.1f} | "
          f"**{first.interactions_per_second:,.0f}** | {first.interactions_per_second / naive:.0f}x |")
    print(f"| graphrec ingest, whole (schema, {sum(first.created[k] for k in ('User', 'Item', 'Entity')):,} nodes, "
          f"properties, edges) | {edges:,} | {first.seconds['total']:.1f} | {whole:,.0f} | {whole / naive:.0f}x |")
    print(f"| graphrec ingest again (creates {sum(second.created.values())}) | 0 | {second.seconds['total']:.1f} | - "
          "| - |")
    print(f"| one row per edge in UNWIND batches of {UNWIND_BATCH:,}, ids through the index (first "
          f"{len(unwind_sample):,} edges) | {len(unwind_sample):,} | {unwind_seconds:.1f} | {unwind:,.0f} | "
          f"{unwind / naive:.0f}x |")
    print(f"| naive, one MATCH/CREATE statement and transaction per edge (first {len(sample):,} edges) | "
          f"{len(sample):,} | {naive_seconds:.1f} | {naive:,.0f} | 1x |")
    if offline:
        s = offline.seconds
        load = s["csv"] + s["import"] + s["schema"]
        bolt_load, bolt = first.seconds["total"], started + first.seconds["total"]
        print("\n| Gowalla into a never-started home | edges | first server start | the load | edges/s of the load "
              "| in all | edges/s in all |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        print(f"| offline first load: CSV {s['csv']:.1f} s, Neo4j's importer {s['import']:.1f} s, schema "
              f"{s['schema']:.1f} s | {edges:,} | {s['start']:.1f} | {load:.1f} | **{edges / load:,.0f}** | "
              f"{s['total']:.1f} | {edges / s['total']:,.0f} |")
        print(f"| over Bolt: the whole ingest above (on a warmed-up JVM) | {edges:,} | {started:.1f} | {bolt_load:.1f} "
              f"| {edges / bolt_load:,.0f} | {bolt:.1f} | {edges / bolt:,.0f} |")

def first_load_rate(dataset, args):
    """The offline first load into a fresh home of its own (no server runs meanwhile); its report."""
    home = Path(tempfile.mkdtemp(prefix="graphrec-bench-offline-"))
    settings = load_settings(home=str(home), environ={}, bolt_port=free_port(), http_port=free_port(),
                             server_heap=args.heap, server_pagecache=args.pagecache)
    try:
        report = first_load(settings, dataset)
        print(f"offline first load: created {report.created}; seconds {report.seconds}", flush=True)
        return report
    finally:
        EmbeddedServer.of(settings).stop()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
