"""How each stage's cost grows with the graph (#33): seconds and peak memory from 10^5 to 10^7 interactions.

For each size, the power-law graph of ``graphrec sample --interactions N`` (:func:`graphrec.sample.write_power_law`,
seed 0) goes into a freshly wiped embedded Neo4j of the configured home, then each stage runs in its own Python
process, through the library functions the CLI calls:

=========  ===================================================================================================
ingest     ``loaders.load("csv", DIR)`` + ``ingest``, as ``graphrec ingest csv DIR``: phases parse, write
train      ``train_run`` with one LightGCN epoch and no validation, as ``graphrec train --epochs 1 --eval-every 0
           --no-publish [--nproc 2] --threads 1``: phases export, epoch, test (the full-ranking test of every test
           user, K=20) and the rest (saving the run); once with one process, last with two (one thread each)
ltgnn      the same with ``--model ltgnn``, one process: its epoch is linear in the graph (one implicit layer per step
           over sampled neighbours), LightGCN's is not (every step propagates over the whole graph)
publish    ``publish`` of the one-process LightGCN run (LTGNN's where LightGCN's was not trained at that size: at 10^7
           its epoch does not finish), as ``graphrec publish RUN``: embeddings, vector index, serving
export     (only when asked) ``export`` alone, as ``graphrec export OUT`` without writing OUT
query      ``recommend`` (``graphrec recommend USER``) for 25 seeded users after 3 warm-up calls, index and exact
           paths: p50 / p90 milliseconds
=========  ===================================================================================================

This script samples, every 0.2 s, the resident memory of the stage's process with its children (the second training
process) and of the Neo4j JVM; a stage's phases are its own timestamps, so each phase gets its seconds and both peaks.
One JSON record per stage and size goes to ``--out``, with the load average at its start and end. A stage that fails,
runs past ``--stage-timeout``, would take Python and the JVM together past ``--max-memory-gb`` or the machine's
available memory under ``--min-free-gb`` (the stage is stopped first) is recorded as broken and not run at larger sizes
(nor what needs it).

    GRAPHREC_HOME=HOME PYTHONPATH=. .venv/bin/python benchmarks/scaling.py --sizes 1e5 3e5 1e6 3e6 1e7 \\
        --data DIR --out benchmarks/results/scaling.jsonl
    PYTHONPATH=. .venv/bin/python benchmarks/scaling.py --plot-from benchmarks/results/scaling.jsonl \\
        benchmarks/results/scaling_ltgnn.jsonl --plot benchmarks/results/scaling.svg --table

Several record files: a later file only adds the (size, stage) records the earlier ones lack, so the LTGNN run's own
LightGCN epochs stay in its file, for the same-run comparison ``--table`` prints after the main table.

HOME's config.toml sets the server's ports, heap and page cache (``[graphrec]`` bolt_port, http_port, server_heap,
server_pagecache). The graph's database in HOME is wiped at every size.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

STAGES = ("ingest", "train1", "ltgnn", "publish", "query", "train2")  # two processes last: the stage a deadline drops
OPTIONAL = ("export",)  # the export alone (train1 measures it too), for a size too large to train in the time at hand
NEEDS = {"train1": ("ingest",), "train2": ("ingest",), "ltgnn": ("ingest",), "publish": ("train1", "ltgnn"),
         "query": ("publish",), "export": ("ingest",)}  # a stage runs when one of its needs has not broken
QUERY_USERS, QUERY_WARMUP, K = 25, 3, 20


# ---- one stage, in its own process ---------------------------------------------------------------------------------
def _stage(name: str, data_dir: Path, state_file: Path, threads: int | None) -> dict:
    """Run stage ``name``; return its phases ``{phase: [start, end]}`` (wall-clock times) and what else it measured."""
    from graphrec.config import load_settings
    from graphrec.db.connect import connect

    settings = load_settings()
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    phases: dict[str, list[float]] = {}
    extra: dict = {}
    with connect(settings) as graph:
        if name == "ingest":
            import loaders
            from graphrec.ingest import ingest

            t0 = time.time()
            dataset = loaders.load("csv", data_dir)
            phases["parse"] = [t0, time.time()]
            report = ingest(graph, dataset)
            phases["write"] = [phases["parse"][1], time.time()]
            extra = {"created": report.created, "seconds": report.seconds,
                     "interactions_per_second": report.interactions_per_second}
        elif name == "export":
            from graphrec.export import export

            t0 = time.time()
            hetero, _ = export(graph)
            phases["export"] = [t0, time.time()]
            extra = {"split_origin": hetero.split_origin}
        elif name in ("train1", "train2", "ltgnn"):
            extra = _train(graph, settings, "ltgnn" if name == "ltgnn" else "lightgcn", 1 if name != "train2" else 2,
                           threads, phases)
            if name == "train1":
                state.update(run=extra["run"], model="lightgcn", users=extra["counts"]["users"])
            elif name == "ltgnn" and "run" not in state:  # publish the LTGNN run where LightGCN's did not train
                state.update(run=extra["run"], model="ltgnn", users=extra["counts"]["users"])
        elif name == "publish":
            from graphrec.publish import publish
            from graphrec.runs import load_run

            t0 = time.time()
            report = publish(graph, load_run(settings.runs_dir, state["run"]))
            phases["publish"] = [t0, time.time()]
            extra = {"users": report.users, "items": report.items, "index": report.index,
                     "model": state.get("model", "lightgcn")}
        elif name == "query":
            extra = _query(graph, state["users"], phases)
    state_file.write_text(json.dumps(state))
    return {"phases": phases, "extra": extra}


def _train(graph, settings, model: str, nproc: int, threads: int | None, phases: dict) -> dict:
    """One epoch of ``model`` as ``graphrec train --model M --epochs 1 --eval-every 0 --no-publish --nproc N`` runs
    it. The one-process test is timed by wrapping ``graphrec.train.evaluate_model`` (spawned processes import their
    own)."""
    import torch

    from graphrec import train as train_module
    from graphrec.train import TrainConfig
    from graphrec.workflow import DataConfig, train_run

    marks: dict[str, float] = {}
    evaluate_model = train_module.evaluate_model

    def timed_evaluate(*args, **kwargs):
        marks["test_start"] = time.time()
        try:
            return evaluate_model(*args, **kwargs)
        finally:
            marks["test_end"] = time.time()

    train_module.evaluate_model = timed_evaluate
    config = TrainConfig(epochs=1, eval_every=0, nproc=nproc, threads=threads, progress=False)
    t0 = time.time()
    run, result = train_run(graph, settings.runs_dir, model, {}, config, DataConfig(validation=False),
                            callback=lambda record: marks.setdefault("epoch_end", time.time()))
    end = time.time()
    export_end = t0 + run.meta["seconds"]["export"]
    phases["export"] = [t0, export_end]
    phases["epoch"] = [export_end, marks["epoch_end"]]
    if "test_start" in marks:  # one process: the test is timed; the rest is the run's saving
        phases["test"] = [marks["test_start"], marks["test_end"]]
        phases["save"] = [marks["test_end"], end]
    else:
        phases["test+save"] = [marks["epoch_end"], end]
    counts = run.meta["counts"]
    return {"run": run.id, "epoch_seconds": result.history[0]["seconds"], "loss": result.history[0]["loss"],
            "test": result.test, "torch_threads": torch.get_num_threads(), "nproc": nproc,
            "counts": {k: counts[k] for k in ("users", "items", "train", "test", "kg", "social")}}


def _query(graph, n_users: int, phases: dict) -> dict:
    """p50 / p90 milliseconds of ``recommend`` on both paths for seeded users (the generator names them u0, u1 ...;
    every one of them has interactions)."""
    import random

    from graphrec.recommend import recommend

    chosen = [f"u{u}" for u in random.Random(0).sample(range(n_users), min(QUERY_USERS + QUERY_WARMUP, n_users))]
    out = {}
    for path in ("index", "exact"):
        t0 = time.time()
        times = []
        for n, user in enumerate(chosen):
            start = time.perf_counter()
            rows = recommend(graph, user, K, path=path)
            if n >= QUERY_WARMUP:
                times.append((time.perf_counter() - start) * 1000)
            assert rows, f"no recommendation for {user}"
        phases[f"query {path}"] = [t0, time.time()]
        times.sort()
        out[path] = {"p50_ms": statistics.median(times), "p90_ms": times[int(0.9 * (len(times) - 1))],
                     "users": len(times)}
    return out


# ---- the driver: sizes, a fresh graph per size, each stage sampled --------------------------------------------------
def _tree_rss(pid: int) -> int:
    import psutil

    try:
        proc = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)])
    except psutil.Error:
        return 0


def _rss(pid: int | None) -> int:
    import psutil

    try:
        return psutil.Process(pid).memory_info().rss if pid else 0
    except psutil.Error:
        return 0


def run_stage(name: str, size: int, data_dir: Path, state_file: Path, jvm_pid: int | None, timeout: float,
              max_bytes: float, min_free: float, threads: int | None) -> dict:
    """``name`` in a child process, sampled every 0.2 s; its record (status ok / failed / timeout / memory). Memory
    stops it when Python and JVM together pass ``max_bytes`` or the machine's available memory falls below
    ``min_free`` (the machine is shared: the stage is stopped before the kernel's OOM killer picks anyone)."""
    import psutil

    result_file = state_file.with_suffix(f".{name}.json")
    result_file.unlink(missing_ok=True)
    load_start = os.getloadavg()
    t0 = time.time()
    child = subprocess.Popen([sys.executable, __file__, "--stage", name, "--data", str(data_dir),
                              "--state", str(state_file), "--result", str(result_file)]
                             + ([] if threads is None else ["--threads", str(threads)]), start_new_session=True)
    samples: list[tuple[float, int, int]] = []
    status, error = "ok", None
    while child.poll() is None:
        now, py, jvm = time.time(), _tree_rss(child.pid), _rss(jvm_pid)
        samples.append((now, py, jvm))
        free = psutil.virtual_memory().available
        if now - t0 > timeout:
            status, error = "timeout", f"still running after {timeout:.0f} s"
        elif py + jvm > max_bytes:
            status, error = "memory", f"Python + JVM resident memory passed {max_bytes / 2**30:.0f} GiB"
        elif free < min_free:
            status, error = "memory", (f"the machine's available memory fell to {free / 2**30:.1f} GiB (Python "
                                       f"{py / 2**30:.1f} GiB, JVM {jvm / 2**30:.1f} GiB)")
        if status != "ok":
            os.killpg(child.pid, 9)
            child.wait()
            break
        time.sleep(0.2)
    end = time.time()
    record = {"interactions": size, "stage": name, "status": status, "seconds": round(end - t0, 2),
              "started": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t0)),
              "load": [round(load_start[0], 2), round(os.getloadavg()[0], 2)],
              "rss_peak_mb": round(max((s[1] for s in samples), default=0) / 2**20),
              "jvm_peak_mb": round(max((s[2] for s in samples), default=0) / 2**20)}
    if status == "ok" and child.returncode != 0:
        record["status"] = "failed"
        record["error"] = f"exit status {child.returncode}"
    if error:
        record["error"] = error
    if record["status"] == "ok":
        done = json.loads(result_file.read_text())
        record["phases"] = {}
        for phase, (a, b) in done["phases"].items():
            inside = [s for s in samples if a <= s[0] <= b] or [min(samples, key=lambda s: abs(s[0] - b))]
            record["phases"][phase] = {"seconds": round(b - a, 3),
                                       "rss_peak_mb": round(max(s[1] for s in inside) / 2**20),
                                       "jvm_peak_mb": round(max(s[2] for s in inside) / 2**20)}
        record["extra"] = done["extra"]
    return record


def skip_reason(name: str, stages, broken: dict[str, str]) -> str | None:
    """Why stage ``name`` cannot run (it broke at a smaller size, or every stage it needs, among those asked for or
    broken, broke or was skipped), or None."""
    needs = [n for n in NEEDS.get(name, ()) if n in stages or n in broken]
    if name in broken:
        return broken[name]
    if needs and all(n in broken for n in needs):
        return broken[needs[0]]
    return None


def drive(args) -> None:
    from graphrec.config import load_settings
    from graphrec.db.server import EmbeddedServer
    from graphrec.sample import write_power_law

    settings = load_settings()
    server = EmbeddedServer.of(settings)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                            text=True).stdout.strip() or None
    broken: dict[str, str] = {}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        for size in (int(float(s)) for s in args.sizes):
            data_dir = Path(args.data) / f"power-law-{size}"
            t0 = time.time()
            if not (data_dir / "social.csv").exists():
                write_power_law(data_dir, size, seed=0)
            generated = time.time() - t0
            if not args.keep_graph:
                server.wipe()
            t0 = time.time()
            jvm_pid = server.start().pid
            print(f"== {size:,} interactions: generated in {generated:.1f} s, server started in "
                  f"{time.time() - t0:.1f} s, load {os.getloadavg()[0]:.2f}", flush=True)
            state_file = Path(args.data) / f"state-{size}.json"
            state_file.unlink(missing_ok=True)
            for name in args.stages:
                skip = skip_reason(name, args.stages, broken)
                if skip:
                    print(f"   {name}: skipped ({skip})", flush=True)
                    broken[name] = skip  # what needs it is skipped too
                    continue
                record = run_stage(name, size, data_dir, state_file, jvm_pid, args.stage_timeout,
                                   args.max_memory_gb * 2**30, args.min_free_gb * 2**30, args.threads)
                record.update(commit=commit, cores=os.cpu_count(), server_heap=settings.server_heap,
                              server_pagecache=settings.server_pagecache)
                if name == "ingest":
                    record["generate_seconds"] = round(generated, 2)
                with out.open("a") as fh:
                    fh.write(json.dumps(record) + "\n")
                phases = ", ".join(f"{p} {v['seconds']:.1f}s" for p, v in record.get("phases", {}).items())
                print(f"   {name}: {record['status']} {record['seconds']:.1f}s ({phases}) python peak "
                      f"{record['rss_peak_mb']} MB, JVM peak {record['jvm_peak_mb']} MB, load {record['load']}"
                      + (f" -- {record['error']}" if "error" in record else ""), flush=True)
                if record["status"] != "ok":
                    broken[name] = f"{record['status']} at {size:,} interactions"
    finally:
        server.stop()


# ---- the plot -------------------------------------------------------------------------------------------------------
PLOTTED = (("ingest", "write", "ingest (write)"), ("ingest", "parse", "ingest (parse files)"),
           ("train1", "export", "export"), ("train1", "epoch", "LightGCN epoch, 1 process"),
           ("train2", "epoch", "LightGCN epoch, 2 processes"), ("ltgnn", "epoch", "LTGNN epoch, 1 process"),
           ("train1", "test", "full-ranking test"),
           ("publish", "publish", "publish"))


def plot(records: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    from benchmarks._plots import save

    ok = [r for r in records if r["status"] == "ok"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5))
    sizes = sorted({r["interactions"] for r in ok})
    for stage, phase, label in PLOTTED:
        found = {r["interactions"]: r["phases"][phase]["seconds"] for r in ok
                 if r["stage"] in (stage, phase) and phase in r["phases"]}  # "export": train1's phase or the stage
        points = list(found.items())
        if points:
            left.plot(*zip(*sorted(points)), marker="o", label=label)
    for path_name in ("index", "exact"):
        points = [(r["interactions"], r["extra"][path_name]["p50_ms"] / 1000) for r in ok if r["stage"] == "query"]
        if points:
            left.plot(*zip(*sorted(points)), marker="s", linestyle="--", label=f"query p50, {path_name} path")
    if sizes:
        left.plot(sizes, [s / sizes[0] for s in sizes], color="grey", linestyle=":", label="linear (slope 1)")
        left.plot(sizes, [(s / sizes[0]) ** 2 for s in sizes], color="grey", linestyle="-.",
                  label="quadratic (slope 2)")
    left.set(xscale="log", yscale="log", xlabel="interactions", ylabel="seconds", title="time per stage")
    left.legend(fontsize=7)
    for stage, label in (("ingest", "ingest"), ("train1", "train, 1 process"), ("train2", "train, 2 processes"),
                         ("ltgnn", "train LTGNN, 1 process"), ("publish", "publish")):
        points = sorted((r["interactions"], r["rss_peak_mb"] / 1024) for r in ok if r["stage"] == stage)
        if points:
            right.plot(*zip(*points), marker="o", label=f"{label}: Python")
    points = [(size, max(r["jvm_peak_mb"] for r in ok if r["interactions"] == size) / 1024) for size in sizes]
    if points:
        right.plot(*zip(*points), marker="^", color="black", label="Neo4j JVM (any stage)")
    right.set(xscale="log", yscale="log", xlabel="interactions", ylabel="GiB resident (peak)", title="peak memory")
    right.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    right.yaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    right.legend(fontsize=7)
    fig.tight_layout()
    save(fig, path)


def table(records: list[dict]) -> str:
    """The records as one markdown row per size: each stage's seconds, the query's p50, the peaks and the load."""
    by_size: dict[int, dict[str, dict]] = {}
    for r in records:
        by_size.setdefault(r["interactions"], {})[r["stage"]] = r

    def phase(stages, stage, name, fmt="{:,.1f}", broken=False):
        """A phase's seconds; for a stage that broke, '-' or (``broken``) what broke it."""
        r = stages.get(stage)
        if r is None:
            return "-"
        if r["status"] != "ok":
            return f"{r['status']} after {r['seconds']:,.0f} s of the stage" if broken else "-"
        return fmt.format(r["phases"][name]["seconds"]) if name in r["phases"] else "-"

    lines = ["| interactions | users / items | ingest s (parse + write) | export s | epoch s, 1 process | epoch s, "
             "2 processes | full-ranking test s | publish s | query p50 ms (index / exact) | peak Python GB (stage) "
             "| peak JVM GB | load average |", "|" + "---:|" * 12]
    for size, stages in sorted(by_size.items()):
        ok = [r for r in stages.values() if r["status"] == "ok"]
        counts = next((r["extra"]["counts"] for r in ok if "counts" in r.get("extra", {})), None)
        ingest = stages.get("ingest")
        if counts is None and ingest and ingest["status"] == "ok":
            created = ingest["extra"]["created"]
            counts = {"users": created.get("User", 0), "items": created.get("Item", 0)}
        ingest_text = phase(stages, "ingest", "write")
        if ingest and ingest["status"] == "ok":
            ingest_text = f"{ingest['phases']['parse']['seconds'] + ingest['phases']['write']['seconds']:,.0f} " \
                          f"({ingest['phases']['parse']['seconds']:,.0f} + {ingest['phases']['write']['seconds']:,.0f})"
        # the export alone where it was measured (a later run, after a change to the export), else train1's phase
        export = phase(stages, "export", "export") if stages.get("export", {}).get("status") == "ok" else \
            phase(stages, "train1", "export")
        publish = phase(stages, "publish", "publish")
        if stages.get("publish", {}).get("extra", {}).get("model", "lightgcn") != "lightgcn":
            publish += f" ({stages['publish']['extra']['model']} run)"
        query = stages.get("query")
        query_text = f"{query['extra']['index']['p50_ms']:,.0f} / {query['extra']['exact']['p50_ms']:,.0f}" \
            if query and query["status"] == "ok" else "-"
        peak = max(stages.values(), key=lambda r: r["rss_peak_mb"])
        loads = [x for r in stages.values() for x in r["load"]]
        sizes = f"{counts['users']:,} / {counts['items']:,}" if counts else "-"
        lines.append(f"| {size:,} | {sizes} | "
                     f"{ingest_text} | {export} | {phase(stages, 'train1', 'epoch', broken=True)} | "
                     f"{phase(stages, 'train2', 'epoch', broken=True)} | {phase(stages, 'train1', 'test')} | "
                     f"{publish} | {query_text} | {peak['rss_peak_mb'] / 1024:.1f} "
                     f"({peak['stage']}) | {max(r['jvm_peak_mb'] for r in stages.values()) / 1024:.1f} | "
                     f"{min(loads):.0f}–{max(loads):.0f} |")
    return "\n".join(lines)


def read_records(path: str) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line]


def merge_records(files: list[list[dict]]) -> list[dict]:
    """The records of several files; a later file adds only the (size, stage) pairs the earlier ones lack."""
    merged: list[dict] = []
    for found in files:
        have = {(r["interactions"], r["stage"]) for r in merged}
        merged += [r for r in found if (r["interactions"], r["stage"]) not in have]
    return merged


def ltgnn_table(records: list[dict]) -> str:
    """LTGNN's epoch beside LightGCN's from one run's records: one markdown row per size."""
    lines = ["| interactions | LightGCN epoch s | LTGNN epoch s | LightGCN / LTGNN | LTGNN full-ranking test s | "
             "peak Python GB (LightGCN / LTGNN) | load average |", "|" + "---:|" * 7]
    by_size: dict[int, dict[str, dict]] = {}
    for r in records:
        by_size.setdefault(r["interactions"], {})[r["stage"]] = r
    for size, stages in sorted(by_size.items()):
        lightgcn, ltgnn = stages.get("train1"), stages.get("ltgnn")
        if ltgnn is None:
            continue
        if ltgnn["status"] != "ok":
            lines.append(f"| {size:,} | - | {ltgnn['status']} | - | - | - | - |")
            continue
        a = lightgcn["phases"]["epoch"]["seconds"] if lightgcn and lightgcn["status"] == "ok" else None
        b = ltgnn["phases"]["epoch"]["seconds"]
        loads = [x for r in (lightgcn, ltgnn) if r for x in r["load"]]
        peak = f"{lightgcn['rss_peak_mb'] / 1024:.1f}" if lightgcn else "-"
        lines.append(f"| {size:,} | {'-' if a is None else f'{a:,.1f}'} | {b:,.1f} | "
                     f"{'-' if a is None else f'{a / b:.1f}x'} | {ltgnn['phases']['test']['seconds']:,.1f} | "
                     f"{peak} / {ltgnn['rss_peak_mb'] / 1024:.1f} | {min(loads):.0f}–{max(loads):.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["1e5", "3e5", "1e6", "3e6", "1e7"])
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES + OPTIONAL)
    parser.add_argument("--data", default="scaling-data", help="where the generated graphs are written (kept)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "scaling.jsonl"))
    parser.add_argument("--stage-timeout", type=float, default=2400, help="seconds before a stage counts as broken")
    parser.add_argument("--max-memory-gb", type=float, default=16,
                        help="Python + JVM resident memory at which a stage is stopped and counts as broken")
    parser.add_argument("--keep-graph", action="store_true",
                        help="do not wipe the graph: run --stages on the one size an earlier call ingested")
    parser.add_argument("--min-free-gb", type=float, default=1.5,
                        help="the machine's available memory below which a stage is stopped and counts as broken")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads of the one training process (0: torch's choice, as graphrec train); two "
                             "processes get one each. One by default: on a machine whose cores other jobs keep busy, "
                             "two threads in one process wait for each other at every parallel region")
    parser.add_argument("--plot-from", nargs="+", help="draw --plot from these records instead of measuring (a "
                        "later file adds only the sizes and stages the earlier ones lack)")
    parser.add_argument("--plot", help="SVG to draw")
    parser.add_argument("--table", action="store_true", help="print the records as a markdown table")
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--state", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.threads = args.threads or None
    if args.stage:  # a child: one stage
        done = _stage(args.stage, Path(args.data), Path(args.state), args.threads)
        Path(args.result).write_text(json.dumps(done))
        return
    if not args.plot_from:
        drive(args)
    files = [read_records(path) for path in args.plot_from or [args.out]]
    records = merge_records(files)
    if args.plot:
        plot(records, args.plot)
    if args.table:
        print(table(records))
        for found in files:
            if any(r["stage"] == "ltgnn" for r in found):
                print("\n" + ltgnn_table(found))


if __name__ == "__main__":
    main()
