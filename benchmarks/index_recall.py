"""The index path's share of the exact top-k on a whole catalogue, per vector index setting and candidate count.

    GRAPHREC_HOME=HOME python benchmarks/index_recall.py --users 500
    GRAPHREC_HOME=HOME python benchmarks/index_recall.py --users 500 --seed 1 --fetch 100,150,200 \
        --settings q:16:100,q:32:400,q:64:400 --out finalists     # a second sample, a few settings

Reads the graph and the runs of the configured home the way the CLI does (ingest, train and publish a run first:
`graphrec ingest`, `graphrec train`). For run --run (default: the one served) and --users users drawn with --seed:

* the exact top-k is computed in float64 from the run's own embeddings, every item the user interacted with
  excluded (what ``recommend.for_user`` ranks); --check-exact users are also asked of the exact path itself, to show
  both agree;
* for each index setting (``q``/``f``: int8 quantization on/off, then ``m`` and ``ef_construction``; by default
  every combination of on/off × 16/32/64 × 100/200/400), the run's
  vector index is rebuilt (:func:`graphrec.publish.rebuild_index`; the build time is reported), and for each
  --fetch, :func:`graphrec.recommend.recommend` (index path) answers every sampled user, timed one query at a time;
  the share is the number of exact top-k items it returns over k times the users.

Prints a table, writes ``<out>.jsonl`` (one record per setting and fetch) and ``<out>.svg`` (share and p50 latency
against fetch, one line per setting; ``--plot-from JSONL`` draws it again from the records alone, no server). At the end the index is rebuilt with graphrec's defaults
(:class:`graphrec.publish.IndexOptions`) unless --keep-last.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graphrec import recommend as rec  # noqa: E402
from graphrec.config import load_settings  # noqa: E402
from graphrec.db.connect import connect  # noqa: E402
from graphrec.export import export  # noqa: E402
from graphrec.publish import IndexOptions, rebuild_index  # noqa: E402
from benchmarks._plots import save  # noqa: E402
from benchmarks._serving import add_run_arguments, percentiles, run_and_users  # noqa: E402


def parse_setting(text: str) -> IndexOptions:
    """``q:16:100`` → quantization on, m 16, ef_construction 100 (``f`` for off)."""
    quant, m, ef = text.split(":")
    if quant not in ("q", "f"):
        raise SystemExit(f"--settings: {text!r}: the first field is q (quantized) or f (float32)")
    return IndexOptions(quantization=quant == "q", m=int(m), ef_construction=int(ef))


def label(options: IndexOptions) -> str:
    return f"{'int8' if options.quantization else 'float32'} m={options.m} ef_c={options.ef_construction}"


def exact_top_k(run, users: list[str], seen: dict[str, set[str]], k: int) -> dict[str, list[str]]:
    """Each user's top-k by inner product (float64) over the run's items, the user's interacted items excluded."""
    emb, maps = run.embeddings(), run.ids()
    items = emb["item"].double()
    rows = torch.tensor([maps.index["user"][u] for u in users])
    scores = emb["user"].double()[rows] @ items.T
    item_row = maps.index["item"]
    for n, user in enumerate(users):
        masked = [item_row[i] for i in seen.get(user, ()) if i in item_row]
        scores[n, masked] = -torch.inf
    top = scores.topk(k, dim=1).indices
    return {u: [maps.ids["item"][j] for j in top[n].tolist()] for n, u in enumerate(users)}


def interacted(graph) -> dict[str, set[str]]:
    """Every user's interacted items (all splits), through the library's export."""
    data, maps = export(graph)
    edge_index = data["user", "interacted", "item"].edge_index
    seen: dict[str, set[str]] = {}
    for u, i in edge_index.t().tolist():
        seen.setdefault(maps.ids["user"][u], set()).add(maps.ids["item"][i])
    return seen


def measure(graph, run_id: str, users: list[str], exact: dict[str, list[str]], k: int, fetch: int) -> dict:
    """The index path for every user at ``fetch``: share of the exact top-k found, and latency per query."""
    found, latencies = 0, []
    for user in users:
        start = time.perf_counter()
        rows = rec.recommend(graph, user, k, path="index", fetch=fetch, run=run_id, cold_start=False)
        latencies.append((time.perf_counter() - start) * 1000)
        found += len(set(exact[user]) & {r["item"] for r in rows})
    return {"fetch": fetch, "share": round(found / (k * len(users)), 4), **percentiles(latencies)}


def plot(records: list[dict], out: Path, title: str) -> None:
    """Share of the exact top-k and p50 latency against fetch: a colour per (m, ef_construction), solid for int8,
    dashed for float32."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 5))
    FigureCanvasAgg(fig)
    share_ax, latency_ax = fig.subplots(1, 2)
    graphs = list(dict.fromkeys((r["m"], r["ef_construction"]) for r in records))
    colours = {g: f"C{n % 10}" for n, g in enumerate(graphs)}
    for setting in dict.fromkeys(r["setting"] for r in records):
        mine = [r for r in records if r["setting"] == setting]
        style = dict(color=colours[(mine[0]["m"], mine[0]["ef_construction"])], marker="o", markersize=3,
                     linestyle="-" if mine[0]["quantization"] else "--", label=setting)
        xs = [r["fetch"] for r in mine]
        share_ax.plot(xs, [r["share"] for r in mine], **style)
        latency_ax.plot(xs, [r["p50_ms"] for r in mine], **style)
    share_ax.axhline(0.95, color="grey", linestyle=":", linewidth=1)
    share_ax.set(xscale="log", xlabel="fetch (candidates from the index)",
                 ylabel=f"share of the exact top-{records[0]['k']} found", title=title)
    latency_ax.set(xscale="log", xlabel="fetch (candidates from the index)", ylabel="p50 ms per query (1 client)",
                   title="index path latency")
    for ax in (share_ax, latency_ax):
        ax.grid(alpha=0.3)
    latency_ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    save(fig, out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_arguments(ap)
    ap.add_argument("--settings", default=",".join(f"{q}:{m}:{ef}" for m in (16, 32, 64) for ef in (100, 200, 400)
                                                   for q in "qf"),
                    help="comma-separated QUANT:M:EF_CONSTRUCTION, QUANT q (int8) or f (float32)")
    ap.add_argument("--fetch", default="50,100,150,200,300,500,1000")
    ap.add_argument("--check-exact", type=int, default=20, help="users also asked of the exact path (0: none)")
    ap.add_argument("--warmup", type=int, default=20, help="untimed queries after each rebuild")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for the exact scores")
    ap.add_argument("--keep-last", action="store_true", help="leave the last setting's index instead of the default")
    ap.add_argument("--out", default="benchmarks/results/index_recall_gowalla")
    ap.add_argument("--plot-from", metavar="JSONL", help="only draw <JSONL>.svg from the records a run wrote")
    args = ap.parse_args(argv)
    if args.plot_from:
        source = Path(args.plot_from)
        records = [json.loads(line) for line in source.read_text().splitlines()]
        plot(records, source.with_suffix(".svg"),
             f"run {records[0]['run']}, {records[0]['users']} users, top-{records[0]['k']}")
        print(f"wrote {source.with_suffix('.svg')}")
        return 0
    torch.set_num_threads(args.threads)
    settings_list = [parse_setting(s) for s in args.settings.split(",")]
    fetches = [int(f) for f in args.fetch.split(",")]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    settings = load_settings(home=args.home)
    records = []
    with connect(settings) as graph:
        run, users = run_and_users(graph, settings.runs_dir, args.run, args.users, args.seed)
        run_id = run.id
        t = time.perf_counter()
        exact = exact_top_k(run, users, interacted(graph), args.k)
        print(f"run {run_id}: exact top-{args.k} of {len(users)} users in {time.perf_counter() - t:.1f}s", flush=True)
        agree = 0
        for user in users[:args.check_exact]:
            rows = rec.recommend(graph, user, args.k, path="exact", run=run_id, cold_start=False)
            agree += [r["item"] for r in rows] == exact[user]
        if args.check_exact:
            print(f"the exact path returns the same top-{args.k}, in order, for {agree}/{args.check_exact} users",
                  flush=True)

        print("| index setting | build s | fetch | share of exact top-k | p50 ms | p95 ms | p99 ms |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for options in settings_list:
            t = time.perf_counter()
            rebuild_index(graph, run_id, options)
            build_s = round(time.perf_counter() - t, 1)
            for user in users[:args.warmup]:
                rec.recommend(graph, user, args.k, path="index", fetch=fetches[0], run=run_id, cold_start=False)
            for fetch in fetches:
                record = {"setting": label(options), "quantization": options.quantization, "m": options.m,
                          "ef_construction": options.ef_construction, "build_s": build_s, "run": run_id,
                          "users": len(users), "k": args.k, "seed": args.seed,
                          **measure(graph, run_id, users, exact, args.k, fetch)}
                records.append(record)
                print(f"| {record['setting']} | {build_s} | {fetch} | {record['share']:.4f} | {record['p50_ms']} | "
                      f"{record['p95_ms']} | {record['p99_ms']} |", flush=True)
        if not args.keep_last:
            rebuild_index(graph, run_id, IndexOptions())
    with open(out.with_suffix(".jsonl"), "w") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")
    plot(records, out.with_suffix(".svg"), f"run {run_id}, {len(users)} users, top-{args.k}")
    print(f"wrote {out.with_suffix('.jsonl')} and {out.with_suffix('.svg')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
