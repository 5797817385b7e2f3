"""Cold start of the embedded Neo4j: seconds from `start()` until Bolt and HTTP answer, on a fresh home (first start:
the initial password is set and the system database created) and on a home that already has its databases, and the
seconds a stop takes. Each figure is the median of --repeats rounds in this one process.

    python benchmarks/server_start.py --repeats 3

The jars are fetched before timing (they are a one-time download into the cache, timed separately as "jars").
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graphrec.db import distribution  # noqa: E402
from graphrec.db.server import EmbeddedServer, free_port  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--heap", default="2g")
    parser.add_argument("--pagecache", default="1g")
    args = parser.parse_args()

    t = time.perf_counter()
    distribution.ensure_jars()
    jars = time.perf_counter() - t
    fresh, restart, stop = [], [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as home:
            server = EmbeddedServer(home, free_port(), free_port(), heap=args.heap, pagecache=args.pagecache)
            t = time.perf_counter()
            server.start()
            fresh.append(time.perf_counter() - t)
            t = time.perf_counter()
            server.stop()
            stop.append(time.perf_counter() - t)
            t = time.perf_counter()
            server.start()
            restart.append(time.perf_counter() - t)
            server.stop()
    report = {"neo4j": distribution.NEO4J_VERSION, "java": distribution.java_major(distribution.find_java()),
              "repeats": args.repeats, "jars_cached_s": round(jars, 2),
              "first_start_s": round(statistics.median(fresh), 2), "restart_s": round(statistics.median(restart), 2),
              "stop_s": round(statistics.median(stop), 2),
              "all": {"first_start": [round(x, 2) for x in fresh], "restart": [round(x, 2) for x in restart],
                      "stop": [round(x, 2) for x in stop]}}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
