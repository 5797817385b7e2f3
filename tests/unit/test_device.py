"""Training on another torch device (``TrainConfig.device`` / ``graphrec train --device``).

The CUDA tests run only where torch sees a GPU (CI has none; they are run on a GPU machine when one is at hand, see
BENCHMARKS.md). Triples are always drawn on the CPU, so a CUDA run sees the same batches as a CPU run.
"""

import pytest
import torch

from graphrec.errors import ConfigError
from graphrec.models import MODELS
from graphrec.train import TrainConfig, fit
from tests.unit.models.test_contract import FAST, N, SMALL_GRAPH, checkerboard, make

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def config(**kw) -> TrainConfig:
    return TrainConfig(**{"epochs": 150, "batch_size": 64, "lr": 0.05, "eval_every": 0, "patience": None,
                          "progress": False, "ks": (5,), "metric": "recall@5", **kw})


@pytest.mark.parametrize("name, problem", [("tpu:x", "not a device name"), ("meta", "trains on cpu or cuda")])
def test_a_device_graphrec_cannot_train_on_is_a_config_error(name, problem):
    data = checkerboard()
    with pytest.raises(ConfigError, match=problem):
        fit(make("mf", data, **FAST), data, config(device=name, epochs=1))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_cuda_without_a_gpu_says_so():
    data = checkerboard()
    with pytest.raises(ConfigError, match="no CUDA device"):
        fit(make("mf", data, **FAST), data, config(device="cuda", epochs=1))


def test_device_is_not_part_of_the_resume_key(tmp_path):
    """A run checkpointed on one device resumes on another (here: the same CPU under two spellings)."""
    data = checkerboard()
    fit(make("lightgcn", data, **FAST), data, config(epochs=2, device="cpu"), run_dir=tmp_path)
    result = fit(make("lightgcn", data, **FAST), data, config(epochs=3, device="cpu:0"), run_dir=tmp_path)
    assert result.epochs_run == 3


@cuda
@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_trains_on_cuda_and_comes_back_to_the_cpu(name):
    data = checkerboard()
    model = make(name, data, **FAST, **SMALL_GRAPH.get(name, {}))
    result = fit(model, data, config(device="cuda"))
    assert all(p.device.type == "cpu" for p in model.parameters())
    assert result.test["recall@5"] > 0
    model.eval()
    with torch.no_grad():
        scores = model.score(torch.arange(N))
    for u in range(N):
        other = slice(6, 12) if u < 6 else slice(0, 6)
        assert scores[u, u] > scores[u, other].max(), f"{name} on cuda: user {u}'s held-out item is not on top"


@cuda
@pytest.mark.parametrize("name", ["mf", "lightgcn"])
def test_cuda_follows_the_cpu_trajectory(name):
    """Deterministic models see the same batches on either device, so the losses agree up to float rounding."""
    data = checkerboard()
    losses = {}
    for device in ("cpu", "cuda"):
        result = fit(make(name, data, **FAST), data, config(device=device, epochs=5))
        losses[device] = [r["loss"] for r in result.history]
    assert losses["cuda"] == pytest.approx(losses["cpu"], rel=1e-4)
