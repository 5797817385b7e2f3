"""Data-parallel training on ``torch.distributed`` (gloo on CPU, NCCL on CUDA).

Every process holds the whole graph, the data and a replica of the model. Each epoch every process draws the same
seeded BPR triples as one process would (graphrec.sampling), and each global batch is split into ``world_size``
contiguous shards, one per process, so the union of an epoch's shards is exactly the one-process epoch. A process
computes its shard's loss; the gradients are added across processes weighted by each shard's share of the batch (an
explicit ``all_reduce`` of one flat buffer, not DistributedDataParallel: the loop calls ``model.loss``, not
``forward``, and a parameter no process touched keeps ``grad = None`` as it would in one process, so Adam skips it
the same way). For a loss that is a mean over the batch's triples plus terms that do not depend on the batch, this is
the one-process gradient; models whose loss is not (``Recommender.not_data_parallel``) and closed-form models are
refused. Every process then takes the same optimizer step, so the replicas stay equal, and per-epoch model work
(``on_epoch_start``: SGL's views, KGAT's attention) runs in every process from the same generator and weights.

Random draws inside a model's loss (noise, extra negatives) use a seed per process: rank 0 keeps the one-process
seed, the others derive theirs from it, so shards never share their draws. Validation and test split the evaluated
users between the processes and add up the metrics' sums (:meth:`DataParallel.reduce_metrics`); every process gets
the same numbers, so early stopping decides the same everywhere. Rank 0 alone writes the run folder (checkpoints,
metrics.jsonl, best.pt) and reads a checkpoint to resume, which it sends to the others.

Two ways in: :func:`spawn_fit` (``TrainConfig.nproc > 1``: starts the processes on this machine with
``torch.multiprocessing``) and :func:`from_environment` (processes started by ``torchrun``, on one machine or several).
"""

from __future__ import annotations

import copy
import io
import os
import socket
from dataclasses import dataclass, replace
from datetime import timedelta

import torch
import torch.distributed as dist

from graphrec.errors import ConfigError, GraphrecError

_RANK_SEED_SALT = 0x0DD5_EED5  # any constant: the per-process seed of draws inside the loss for ranks > 0


@dataclass(frozen=True)
class DataParallel:
    """This process's place in a data-parallel run (the default process group must be initialised)."""

    rank: int
    world_size: int
    local_rank: int = 0  # the GPU this process uses on its machine

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, batch):
        """This process's contiguous part of a global batch (sizes differ by at most one; may be empty)."""
        return type(batch)(*(t.tensor_split(self.world_size)[self.rank] for t in batch))

    def loss_seed(self, seed: int) -> int:
        """The seed of the draws inside the loss of a rank > 0 (rank 0 keeps the one-process run's draws)."""
        return (seed ^ (_RANK_SEED_SALT * self.rank)) % (2**62)

    def add_gradients(self, model: torch.nn.Module, share: float) -> None:
        """Replace every parameter's gradient by the sum over processes of ``share`` x its own (``share``: this
        process's fraction of the global batch). One flat ``all_reduce``; the last entries count the processes that
        had a gradient for each parameter, and a parameter none had keeps ``grad = None``."""
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            return
        ref = params[0]
        parts = [p.grad.reshape(-1) * share if p.grad is not None else ref.new_zeros(p.numel()) for p in params]
        parts.append(torch.tensor([float(p.grad is not None) for p in params], dtype=ref.dtype, device=ref.device))
        flat = torch.cat(parts)
        dist.all_reduce(flat)
        had = flat[-len(params):].tolist()
        offset = 0
        for p, count in zip(params, had):
            p.grad = flat[offset:offset + p.numel()].view_as(p) if count > 0 else None
            offset += p.numel()

    def sum(self, values: list[float]) -> list[float]:
        """Each of ``values`` summed over the processes (float64)."""
        t = torch.tensor(values, dtype=torch.float64, device=self._device())
        dist.all_reduce(t)
        return t.tolist()

    def max(self, value: float) -> float:
        t = torch.tensor([value], dtype=torch.float64, device=self._device())
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return float(t)

    def names(self, names) -> list[str]:
        """The union of every process's ``names``, sorted (e.g. the loss terms they logged)."""
        gathered = [None] * self.world_size
        dist.all_gather_object(gathered, sorted(names))
        return sorted({n for part in gathered for n in part})

    def broadcast(self, obj):
        """Rank 0's ``obj`` in every process (the others pass anything). An exception object is re-raised in every
        process, so an error found by rank 0 alone (a checkpoint that does not fit) stops them all."""
        box = [obj]
        dist.broadcast_object_list(box, src=0, device=self._device())
        if isinstance(box[0], BaseException):
            raise box[0]
        return box[0]

    def users(self, users: torch.Tensor) -> torch.Tensor:
        """This process's users to evaluate: every ``world_size``-th, so degrees spread evenly."""
        return users[self.rank::self.world_size]

    def reduce_metrics(self, metrics) -> None:
        """Add up the state of every process's :class:`graphrec.metrics.RankingMetrics` in place (sums, user counts,
        exposure counts, ILD sums; reached KG neighbours as a union), so ``compute()`` gives the metrics of all the
        evaluated users in every process."""
        keys = sorted(metrics.sums)
        scalars = [metrics.n_users] + [metrics.sums[k] for k in keys]
        if metrics.kg is not None:
            scalars += list(metrics.ild_sum) + list(metrics.ild_users)
        summed = self.sum(scalars)
        metrics.n_users = int(summed[0])
        metrics.sums = dict(zip(keys, summed[1:1 + len(keys)]))
        rest = summed[1 + len(keys):]
        if metrics.kg is not None:
            n = len(metrics.ild_sum)
            metrics.ild_sum, metrics.ild_users = rest[:n], [int(u) for u in rest[n:]]
            reached = metrics.kg_reached.to(torch.uint8)
            dist.all_reduce(reached, op=dist.ReduceOp.MAX)
            metrics.kg_reached = reached.bool()
        if metrics.exposure is not None:
            exposure = metrics.exposure.to(self._device())
            dist.all_reduce(exposure)
            metrics.exposure = exposure.cpu()

    def _device(self) -> torch.device:
        return torch.device("cuda", self.local_rank) if dist.get_backend() == "nccl" else torch.device("cpu")


def check_model(model) -> None:
    """A ConfigError naming why ``model`` (a model or a model class) cannot train data-parallel, if it cannot."""
    name = model.__name__ if isinstance(model, type) else type(model).__name__
    if model.closed_form:
        raise ConfigError(f"{name} is fitted in closed form, once, with no epochs or gradients to split between "
                          "processes: train it with nproc 1")
    if model.not_data_parallel:
        raise ConfigError(f"{name} cannot train data-parallel: {model.not_data_parallel}; train it with nproc 1")


def backend_for(device: str) -> str:
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def from_environment(device: str = "cpu") -> DataParallel | None:
    """Join the process group ``torchrun`` set up (its RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR environment);
    None when this process was not started by it, or started alone."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or "RANK" not in os.environ:
        return None
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if backend_for(device) == "nccl":
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend_for(device))
    return DataParallel(dist.get_rank(), dist.get_world_size(), local_rank)


def spawn_fit(model, data, config, run_dir=None, callback=None, evaluate_fn=None):
    """:func:`graphrec.train.fit` in ``config.nproc`` processes on this machine (``torch.multiprocessing`` spawn,
    a process group on a free loopback port). Rank 0 writes ``run_dir``; its epoch records reach ``callback`` here,
    in the calling process, and ``model`` ends holding rank 0's final weights, as after ``fit``. Without
    ``config.threads``, each process gets an equal share of this machine's cores."""
    import torch.multiprocessing as mp

    from graphrec.evaluate import evaluate

    check_model(model)
    nproc = config.nproc
    if config.threads is None:
        config = replace(config, threads=max(1, (os.cpu_count() or 1) // nproc))
    if torch.device(config.device).type == "cuda" and torch.cuda.device_count() < nproc:
        raise ConfigError(f"TrainConfig.nproc {nproc} on {config.device!r}: one GPU per process, and this machine "
                          f"has {torch.cuda.device_count()}")
    with socket.socket() as s:  # a free port for the rendezvous (tiny race with other programs, as torchrun's)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    args = (nproc, port, model, data, config, None if run_dir is None else str(run_dir),
            evaluate_fn or evaluate, queue)
    processes = mp.start_processes(_worker, args=args, nprocs=nproc, join=False, start_method="spawn")
    outcome = None

    def drain():
        nonlocal outcome
        while not queue.empty():
            kind, payload = queue.get()
            if kind == "epoch":
                if callback is not None:
                    callback(payload)
            else:
                outcome = (kind, payload)

    try:
        while not processes.join(timeout=0.2):
            drain()
    except mp.ProcessException as exc:  # a process raised something else, or died
        raise GraphrecError(f"a training process failed:\n{exc}") from None
    drain()
    if outcome is None:
        raise GraphrecError("the training processes ended without a result")
    kind, payload = outcome
    if kind == "error":
        raise payload
    result, weights = payload
    model.load_state_dict(torch.load(io.BytesIO(weights), map_location="cpu", weights_only=True))
    model.to("cpu")
    return result


def _worker(rank, nproc, port, model, data, config, run_dir, evaluate_fn, queue):
    from graphrec.train import fit

    # The spawned arguments arrive in shared memory: without its own copy of the model, every process's optimizer
    # step would update the same weights. The data stays shared (read only).
    model = copy.deepcopy(model)

    local_device = config.device
    if backend_for(config.device) == "nccl":
        torch.cuda.set_device(rank)
        local_device = f"cuda:{rank}"
    dist.init_process_group(backend_for(config.device), init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=nproc, timeout=timedelta(minutes=30))
    group = DataParallel(rank, nproc, local_rank=rank)
    try:
        relay = (lambda record: queue.put(("epoch", record))) if group.is_main else None
        result = fit(model, data, replace(config, device=local_device, progress=config.progress and group.is_main),
                     run_dir=run_dir, callback=relay, evaluate_fn=evaluate_fn, group=group)
        if group.is_main:
            buffer = io.BytesIO()
            torch.save(model.state_dict(), buffer)
            queue.put(("result", (result, buffer.getvalue())))
        dist.barrier()  # no process tears its connections down while another's last collective is still in flight
    except GraphrecError as exc:  # the same on every rank (checks) or broadcast from rank 0: one clear error
        if group.is_main:
            queue.put(("error", exc))
    finally:
        dist.destroy_process_group()
