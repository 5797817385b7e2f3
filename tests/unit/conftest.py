import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True)
def _small_threads():
    # Unit tests run on shared 2-core machines: keep torch to one thread so parallel tests do not thrash.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(params=["numba", "torch"])
def kernel_path(request, monkeypatch):
    """Runs a test through graphrec.compiled.kernels' numba loops and through their torch fallback (used for CUDA tensors
    and other layouts)."""
    if request.param == "torch":
        from graphrec.compiled import fused, kernels

        monkeypatch.setattr(kernels, "_fast", lambda *tensors: False)
        monkeypatch.setattr(kernels, "_gather_fast", lambda *tensors: False)
        monkeypatch.setattr(fused, "elementwise_fast", lambda *tensors: False)
    return request.param


def random_pairs(n_users, n_items, n, seed):
    gen = torch.Generator().manual_seed(seed)
    keys = torch.unique(torch.randint(n_users * n_items, (n,), generator=gen))
    return torch.stack([keys // n_items, keys % n_items])


def import_hetero_data():
    """torch_geometric's import calls torch.jit.script, deprecated in torch 2.13 (a DeprecationWarning, from 2.15 a
    FutureWarning, that the test config turns into an error); it is not ours to fix, so only that import is shielded."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated")
        from torch_geometric.data import HeteroData
    return HeteroData


def cache_hits_in_two_processes(code: str, cache_dir: Path) -> list[list[str]]:
    """Runs ``code`` (which prints numba cache-hit counts) in two fresh processes sharing the empty numba cache folder
    ``cache_dir``; returns each one's printed words. A loop whose closure held something that pickles differently in
    every process (an intrinsic, a dispatcher) would get a new cache key each time and compile again in the second."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache_dir)}
    return [subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                           cwd=Path(__file__).resolve().parents[2]).stdout.split() for _ in range(2)]
