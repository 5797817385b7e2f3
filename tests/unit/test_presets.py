"""Presets (graphrec/presets.py) and the one way training settings are built (graphrec.cli.TRAIN_OPTIONS)."""

import json
from dataclasses import fields

import pytest
import torch
from click.testing import CliRunner

from graphrec.cli import TRAIN_OPTIONS, cli
from graphrec.errors import ConfigError
from graphrec.models import MODELS, hparam_names
from graphrec.presets import PRESETS, preset, train_flag
from graphrec.train import TrainConfig
from tests.unit.conftest import random_pairs
from tests.unit.models.test_contract import checkerboard, make


@pytest.mark.parametrize("key", sorted(PRESETS))
def test_every_preset_names_a_model_its_constructor_and_train_options_accept(key):
    recipe = PRESETS[key]
    cls = MODELS[recipe.model]
    assert set(recipe.hparams) <= set(hparam_names(cls))
    config_fields = {f.name for f in fields(TrainConfig)}
    assert set(recipe.train) <= config_fields
    TrainConfig(**recipe.train)  # checks itself
    assert not (recipe.refit and cls.closed_form), "a closed-form model's preset is a searched point, not a refit"
    assert recipe.reached and all(0 < v < 1 for v in recipe.reached.values())
    if not cls.closed_form:  # (a filter's cut-off k=512 does not fit the 12-item graph; its names were checked)
        make(recipe.model, checkerboard(), **recipe.hparams)
    assert set(recipe.data) <= {"split", "split_seed"}


def test_an_unknown_preset_lists_what_there_is():
    with pytest.raises(ConfigError, match="no preset 'movies' for lightgcn; it has: gowalla"):
        preset("lightgcn", "movies")
    with pytest.raises(ConfigError, match="presets exist for: .*lightgcn \\(gowalla\\)"):
        preset("popularity", "gowalla")


def test_every_train_option_is_spelled_once_and_sets_a_train_config_field():
    names = []
    for option in TRAIN_OPTIONS:
        params = option(lambda: None).__click_params__
        names += [p.opts[0] for p in params]
    assert len(names) == len(set(names))
    for field in ("epochs", "batch_size", "lr", "lr_decay_epochs", "budget_seconds", "eval_every", "ks"):
        assert train_flag(field) in names, field


def test_graphrec_models_shows_the_presets():
    out = CliRunner().invoke(cli, ["models"]).output
    assert "preset: lightgcn --preset gowalla: --batch-size 16384 --lr 0.02" in out
    assert "--refit\n" in out and "0.1842 / 0.1563" in out


def _tiny_split(folder):
    folder.mkdir()
    pairs = random_pairs(40, 30, 480, seed=3)
    by_user: dict[int, list[int]] = {}
    for u, i in pairs.t().tolist():
        by_user.setdefault(u, []).append(i)
    with open(folder / "train.txt", "w") as train, open(folder / "test.txt", "w") as test:
        for u, items in sorted(by_user.items()):
            if len(items) >= 4:
                train.write(" ".join(map(str, [u, *items[:-2]])) + "\n")
                test.write(" ".join(map(str, [u, *items[-2:]])) + "\n")


def test_the_benchmark_takes_the_cli_options_and_a_preset_and_what_is_given_wins(tmp_path, monkeypatch):
    """benchmarks/gowalla_accuracy.py has no training option of its own: it reads TRAIN_OPTIONS and a preset as
    `graphrec train` does, and runs the same holdout -> refit protocol."""
    import benchmarks.gowalla_accuracy as bench

    _tiny_split(tmp_path / "split")
    torch.set_num_threads(1)
    result = CliRunner().invoke(bench.main, ["--model", "lightgcn", "--preset", "gowalla", "--data",
                                             str(tmp_path / "split"), "--epochs", "6", "--batch-size", "64",
                                             "--hp", "dim=8", "--no-progress", "--run-dir", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    line = next(ln for ln in result.output.splitlines() if ln.startswith("REFIT "))
    summary = json.loads(line[len("REFIT "):])
    # the preset's settings where nothing was given, the command line's where it was
    assert summary["lr"] == 0.02 and summary["sampler"] == "user" and summary["batch_size"] == 64
    assert summary["hparams"]["num_negatives"] == 64 and summary["hparams"]["dim"] == 8
    assert summary["refit"]["epochs"] == summary["epochs_run"] <= 6 and summary["test"]["recall@20"] >= 0
    assert (tmp_path / "run" / "holdout" / "metrics.jsonl").is_file()

    refused = CliRunner().invoke(bench.main, ["--model", "lightgcn", "--data", str(tmp_path / "split"),
                                              "--lr-decay-after", "2", "--no-progress"])
    assert refused.exit_code != 0 and "--lr-decay-after needs --lr-decay" in refused.output
