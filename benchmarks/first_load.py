"""A first ingest into a never-started embedded Neo4j: Neo4j's offline importer against Bolt writes, by graph size.

``graphrec ingest`` into a home whose database was never created can build the store with ``neo4j-admin database
import`` (:func:`graphrec.firstload.first_load`) or start the server and write over Bolt
(:func:`graphrec.ingest.ingest`). The importer has a fixed cost (its own JVM, then the server's first start on the
new store) and a low cost per edge; Bolt the reverse. For each data set this times both, each into a fresh home of
its own with a cold JVM, as a user's first ``graphrec ingest`` runs, alternating the order between repeats:

* *offline*: CSV files, the importer, the server's first start and the schema (``first_load``);
* *bolt*: the server's first start, then the whole ingest.

Both end with the same graph and a running server. Measured quiet, the importer was the faster way from 3,000
edges up (BENCHMARKS.md, "Ingest speed"), so ``graphrec ingest`` takes it for every first load it can.

    .venv/bin/python benchmarks/first_load.py [--repeats 2] [--datasets small-sample sample ml-100k lastfm gowalla]
        [--out benchmarks/results/first_load.jsonl]
"""

from __future__ import annotations

import argparse
import json
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
from graphrec.ingest import ingest
from graphrec.sample import write_sample

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DATASETS = {  # name -> (loader, folder or None for the generated sample graph, loader options)
    "small-sample": ("csv", None, {}),   # the sample graph with 100 users and 80 items
    "sample": ("csv", None, {}),
    "ml-100k": ("movielens", "ml-100k", {}),
    "lastfm": ("lastfm", "lastfm-hetrec2011", {"kg": True, "social": True}),
    "ml-1m": ("lightgcn", "ml-1m-implicit-lightgcnpp", {}),
    "gowalla": ("lightgcn", "lightgcn-gowalla", {}),
}


def edges(dataset) -> int:
    return len(dataset.interactions) + len(dataset.triples) + len(dataset.social)


def timed(method: str, dataset) -> float:
    """Seconds of a first ingest of ``dataset`` by ``method`` into a fresh home, the server's first start included."""
    home = Path(tempfile.mkdtemp(prefix=f"graphrec-bench-first-{method}-"))
    settings = load_settings(home=str(home), environ={}, bolt_port=free_port(), http_port=free_port())
    try:
        start = time.perf_counter()
        if method == "offline":
            first_load(settings, dataset)
        else:
            with connect(settings) as graph:
                ingest(graph, dataset)
        return time.perf_counter() - start
    finally:
        EmbeddedServer.of(settings).stop()
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, help="append one JSON record per data set")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="graphrec-bench-first-sample-"))
    print(f"cores: {os.cpu_count()}; load average at the start: {os.getloadavg()[0]:.2f}", flush=True)
    print("| data set | edges | offline s (each) | bolt s (each) | faster |\n|---|---:|---:|---:|---|")
    try:
        for name in args.datasets:
            loader, folder, options = DATASETS[name]
            small = {"n_users": 100, "n_items": 80} if name == "small-sample" else {}
            path = write_sample(scratch / name, **small) if folder is None else args.data / folder
            dataset = loaders.load(loader, path, **options)
            seconds: dict[str, list[float]] = {"offline": [], "bolt": []}
            for k in range(args.repeats):
                for method in (("offline", "bolt") if k % 2 == 0 else ("bolt", "offline")):
                    seconds[method].append(timed(method, dataset))
            best = {m: min(s) for m, s in seconds.items()}
            each = {m: ", ".join(f"{s:.1f}" for s in seconds[m]) for m in seconds}
            print(f"| {name} | {edges(dataset):,} | {best['offline']:.1f} ({each['offline']}) | {best['bolt']:.1f} "
                  f"({each['bolt']}) | {min(best, key=best.get)} |", flush=True)
            if args.out:
                with args.out.open("a") as out:
                    out.write(json.dumps({"dataset": name, "edges": edges(dataset), "seconds": seconds,
                                          "load": os.getloadavg()[0], "at": time.strftime("%Y-%m-%d %H:%M UTC",
                                                                                          time.gmtime())}) + "\n")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
