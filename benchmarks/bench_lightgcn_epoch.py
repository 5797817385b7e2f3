"""LightGCN training speed on the whole Gowalla split: graphrec vs PyG's LightGCN, in the same process.

Measures graphrec's seconds per epoch (batch 2048, 3 layers, dim 64, one BPR triple per training interaction, so
ceil(810,128 / 2048) = 396 steps), one full-ranking evaluation over all test users, and peak RSS; then runs PyG's
``torch_geometric.nn.models.LightGCN`` the way PyG's examples/lightgcn.py uses it (homogeneous undirected edge_index,
``model(edge_index, edge_label_index)``, ``recommendation_loss``) for a bounded number of batches and extrapolates
its epoch time from them. PyG runs in a child process (spawned, same thread count), so each side's peak memory is
its own and PyG gets the default allocator settings a user's script has (graphrec's training changes glibc's
thresholds for the process, see ``graphrec.train.keep_freed_memory``; ``--pyg-keep-freed-memory`` gives PyG the same).

    PYTHONPATH=. python benchmarks/bench_lightgcn_epoch.py [DATA_DIR] --threads 2
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._data import DEFAULT_GOWALLA, load_lightgcn_dir  # noqa: E402
from graphrec.evaluate import evaluate  # noqa: E402
from graphrec.models import build  # noqa: E402
from graphrec.train import make_optimizer, train_epoch  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def pyg_batches(data_dir: str, threads: int, n_batches: int, batch_size: int, num_layers: int, dim: int,
                keep_freed: bool, warmup: int = 2) -> tuple[float, float]:
    """Seconds per batch of PyG's LightGCN example loop (timed over ``n_batches`` after ``warmup``) and the peak RSS
    (MB) of the process; run in a child process."""
    import warnings

    torch.set_num_threads(threads)
    if keep_freed:
        from graphrec.train import keep_freed_memory

        keep_freed_memory()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torch_geometric.nn.models import LightGCN as PyGLightGCN
    data = load_lightgcn_dir(data_dir)
    users, items = data.train.pairs()
    items = items + data.n_users
    edge_index = torch.stack([torch.cat([users, items]), torch.cat([items, users])])  # undirected, as the example
    train_edge_label_index = torch.stack([users, items])
    model = PyGLightGCN(num_nodes=data.n_users + data.n_items, embedding_dim=dim, num_layers=num_layers)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    perm = torch.randperm(users.numel(), generator=gen)
    times = []
    for step in range(warmup + n_batches):
        index = perm[step * batch_size:(step + 1) * batch_size]
        t0 = time.perf_counter()
        pos = train_edge_label_index[:, index]
        neg = torch.stack([pos[0], torch.randint(data.n_users, data.n_users + data.n_items, (index.numel(),),
                                                 generator=gen)])
        edge_label_index = torch.cat([pos, neg], dim=1)
        optimizer.zero_grad()
        pos_rank, neg_rank = model(edge_index, edge_label_index).chunk(2)
        loss = model.recommendation_loss(pos_rank, neg_rank, node_id=edge_label_index.unique())
        loss.backward()
        optimizer.step()
        if step >= warmup:
            times.append(time.perf_counter() - t0)
    return sum(times) / len(times), peak_rss_mb()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", nargs="?", default=str(DEFAULT_GOWALLA))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=2048)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--eval-batch-users", type=int, default=2048)
    ap.add_argument("--pyg-batches", type=int, default=20, help="0 skips PyG")
    ap.add_argument("--pyg-keep-freed-memory", action="store_true",
                    help="give PyG's process graphrec's allocator setting too (glibc keeps freed buffers)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    t0 = time.perf_counter()
    data = load_lightgcn_dir(args.data)
    load_s = time.perf_counter() - t0
    steps = math.ceil(data.train.nnz / args.batch_size)
    model = build("lightgcn", data.n_users, data.n_items, graph=torch.stack(data.train.pairs()), seed=0,
                  dim=args.dim, num_layers=args.layers)
    optimizer = make_optimizer(model, 1e-3)
    epoch_s = []
    for epoch in range(args.epochs):
        _, seconds = train_epoch(model, optimizer, data, args.batch_size, torch.Generator().manual_seed(epoch))
        epoch_s.append(seconds)
    with torch.no_grad():
        model.eval()
        t0 = time.perf_counter()
        emb = model()
        fwd_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        metrics = evaluate(emb, data, "test", ks=(20,), batch_users=args.eval_batch_users)
        eval_s = time.perf_counter() - t0
    graphrec_peak = peak_rss_mb()

    rows = [("data", f"{data}"), ("load LightGCN files", f"{load_s:.2f} s"),
            ("graphrec LightGCN epoch", f"{sum(epoch_s) / len(epoch_s):.1f} s/epoch "
                                        f"({steps} steps; epochs: {', '.join(f'{s:.1f}' for s in epoch_s)})"),
            ("graphrec propagation (eval forward)", f"{fwd_s * 1000:.0f} ms"),
            ("graphrec full-ranking eval (test)", f"{eval_s:.2f} s over {int(metrics['n_users'])} users "
                                                  f"x {data.n_items} items (recall@20 {metrics['recall@20']:.4f} "
                                                  f"after {args.epochs} epochs)"),
            ("graphrec peak RSS", f"{graphrec_peak:.0f} MB")]
    if args.pyg_batches > 0:
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            per_batch, pyg_peak = pool.apply(pyg_batches, (args.data, args.threads, args.pyg_batches, args.batch_size,
                                                          args.layers, args.dim, args.pyg_keep_freed_memory))
        pyg_epoch = per_batch * steps
        rows += [("PyG LightGCN (examples/lightgcn.py loop)",
                  f"{per_batch:.2f} s/batch over {args.pyg_batches} batches -> extrapolated "
                  f"{pyg_epoch:.0f} s/epoch ({steps} steps"
                  f"{', glibc keeps freed memory' if args.pyg_keep_freed_memory else ', default allocator'})"),
                 ("PyG peak RSS (its own process)", f"{pyg_peak:.0f} MB"),
                 ("graphrec speed-up over PyG", f"{pyg_epoch / (sum(epoch_s) / len(epoch_s)):.1f}x")]
    print(f"threads={torch.get_num_threads()} torch={torch.__version__} batch={args.batch_size} "
          f"layers={args.layers} dim={args.dim} load1={os.getloadavg()[0]:.2f}")
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
