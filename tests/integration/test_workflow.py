"""graphrec train / evaluate through the CLI against the real server, on the generated sample graph."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

import loaders
from graphrec.cli import cli
from graphrec.errors import ConfigError
from graphrec.export import export
from graphrec.ingest import ingest
from graphrec.runs import list_runs
from graphrec.sample import write_sample
from graphrec.train import TrainConfig
from graphrec.workflow import DataConfig, train_run
from tests.integration.cli_helpers import run_cli


@pytest.fixture
def sample_graph(graph, tmp_path):
    ingest(graph, loaders.load("csv", write_sample(tmp_path / "s", n_users=150, n_items=120, seed=11)))
    return graph


def test_train_saves_a_run_that_evaluate_reproduces(sample_graph, settings):
    run_cli(settings, "train", "--model", "lightgcn", "--epochs", "6", "--batch-size", "256", "--lr", "0.01",
         "--eval-every", "2", "--threads", "1", "--sampler", "user", "--min-epochs", "4",
         "--budget-minutes", "60", "--lr-decay", "0.5", "--lr-decay-patience", "2", "--no-publish")
    run = list_runs(settings.runs_dir)[-1]
    assert {"run.json", "ids.json", "embeddings.pt", "graphs.pt", "best.pt", "metrics.jsonl", "curves.png"} <= \
        {p.name for p in run.path.iterdir()}
    meta = run.meta
    assert meta["model"] == "lightgcn" and meta["split_origin"].startswith("random")
    assert meta["valid_origin"] == "the split's own"  # the export's 8:1:1 draw, no holdout carved
    assert meta["train_config"]["sampler"] == "user" and meta["train_config"]["min_epochs"] == 4
    assert meta["train_config"]["budget_seconds"] == 3600
    assert meta["train_config"]["lr_decay"] == 0.5 and meta["train_config"]["lr_decay_patience"] == 2
    lrs = [json.loads(line)["lr"] for line in (run.path / "metrics.jsonl").read_text().splitlines()]
    assert lrs[0] == 0.01 and all(b in (a, a * 0.5) for a, b in zip(lrs, lrs[1:]))  # each epoch's rate is logged
    assert meta["counts"]["users"] == 150 and meta["best_epoch"] in (2, 4, 6)
    emb = run.embeddings()
    assert emb["user"].shape == (150, 64)
    # the saved model, rebuilt on the saved graphs, scores exactly as the saved embeddings
    with torch.no_grad():
        user_emb, item_emb = run.model()()
    assert torch.allclose(user_emb, emb["user"]) and torch.allclose(item_emb, emb["item"])
    train, side = run.graphs()
    assert train.shape[1] == meta["counts"]["train"] and side.n_users == 150

    out = run_cli(settings, "evaluate", run.id, "-k", "20", "--json")
    again = json.loads(out.stdout)
    assert again["recall@20"] == pytest.approx(meta["metrics"]["test"]["recall@20"], abs=1e-6)
    assert again["ndcg@20"] == pytest.approx(meta["metrics"]["test"]["ndcg@20"], abs=1e-6)


def test_unknown_model_lists_the_choices(sample_graph, settings):
    result = CliRunner().invoke(cli, ["--home", str(settings.home), "train", "--model", "nope"],
                                env={"NEO4J_URI": ""})
    assert result.exit_code != 0 and "lightgcn" in str(result.exception)


def test_export_writes_heterodata_and_ids(sample_graph, settings, tmp_path):
    out = tmp_path / "g.pt"
    run_cli(settings, "export", str(out))
    data = torch.load(out, weights_only=False)
    ids = json.loads((tmp_path / "g.pt.ids.json").read_text())
    assert data["user"].num_nodes == len(ids["user"]) == 150


def test_train_without_validation_runs_the_given_epochs_on_train_and_valid(sample_graph, settings):
    out = run_cli(settings, "train", "--model", "mf", "--epochs", "3", "--batch-size", "256", "--eval-every", "0",
                  "--threads", "1", "--no-publish", "--lr", "0.01", "--lr-decay", "0.5", "--lr-decay-after", "2")
    assert "3 epochs, no validation" in out.stdout
    run = list_runs(settings.runs_dir)[-1]
    meta = run.meta
    assert meta["epochs_run"] == 3 and meta["data_config"]["validation"] is False
    # the replayed decay: the lr is halved after epoch 2, so epoch 3 trains at 0.005
    assert meta["train_config"]["lr_decay_epochs"] == [2]
    lrs = [json.loads(line)["lr"] for line in (run.path / "metrics.jsonl").read_text().splitlines()]
    assert lrs == [0.01, 0.01, 0.005]
    # The random split's valid edges were trained on; test is the same test a validated run reports.
    hetero, _ = export(sample_graph, split="auto", seed=2020)
    split = hetero["user", "interacted", "item"].split
    assert meta["counts"]["valid"] == 0 and int((split == 1).sum()) > 0
    assert meta["counts"]["train"] == int((split != 2).sum()) and meta["counts"]["test"] == int((split == 2).sum())
    again = json.loads(run_cli(settings, "evaluate", run.id, "-k", "20", "--json").stdout)
    assert again["recall@20"] == pytest.approx(meta["metrics"]["test"]["recall@20"], abs=1e-6)
    result = CliRunner().invoke(cli, ["--home", str(settings.home), "evaluate", run.id, "--split", "valid"],
                                env={"NEO4J_URI": ""})
    assert result.exit_code != 0 and "no valid interactions" in str(result.exception) and \
        "--eval-every 0" in str(result.exception)
    with pytest.raises(ConfigError, match="cannot validate"):  # the API refuses the contradiction the CLI avoids
        train_run(sample_graph, settings.runs_dir, "mf", {}, TrainConfig(epochs=1), DataConfig(validation=False))


def test_refit_chooses_the_schedule_on_the_holdout_and_serves_the_model_retrained_on_all(sample_graph, settings):
    args = ["train", "--model", "lightgcn", "--epochs", "5", "--batch-size", "256", "--lr", "0.01", "--threads", "1",
            "--eval-every", "1", "--patience", "2", "--lr-decay", "0.5", "--refit", "--no-publish"]
    out = run_cli(settings, *args)
    assert "the holdout chose" in out.stdout and "refitted on train + valid" in out.stdout
    assert "refit epoch" in out.stderr
    run = list_runs(settings.runs_dir)[-1]
    meta = run.meta
    schedule = meta["refit"]
    assert 1 <= schedule["epochs"] <= schedule["holdout_epochs_run"] <= 5
    assert meta["epochs_run"] == schedule["epochs"] and meta["counts"]["valid"] == 0
    assert meta["data_config"]["validation"] is False  # the served model trained on train and valid
    holdout = [json.loads(ln) for ln in (run.path / "holdout" / "metrics.jsonl").read_text().splitlines()]
    refit = [json.loads(ln) for ln in (run.path / "metrics.jsonl").read_text().splitlines()]
    assert all("valid" in r for r in holdout) and not any("valid" in r for r in refit)
    assert schedule["lr_decay_epochs"] == [r["epoch"] for r in holdout
                                           if "lr_decayed_to" in r and r["epoch"] <= schedule["epochs"]]
    assert [r["lr"] for r in refit][-1] == pytest.approx(0.01 * 0.5 ** len(schedule["lr_decay_epochs"]))
    again = json.loads(run_cli(settings, "evaluate", run.id, "-k", "20", "--json").stdout)
    assert again["recall@20"] == pytest.approx(meta["metrics"]["test"]["recall@20"], abs=1e-6)

    # resumed, it trains nothing more and reports the same test
    resumed = run_cli(settings, "train", "--resume", run.id)
    assert json.loads((run.path / "run.json").read_text())["metrics"]["test"] == meta["metrics"]["test"]
    assert "the holdout chose" in resumed.stdout
    # a closed-form model is not refitted by epochs
    refused = CliRunner().invoke(cli, ["--home", str(settings.home), "train", "--model", "gfcf", "--refit"],
                                 env={"NEO4J_URI": ""})
    assert refused.exit_code == 2 and "choose its hyper-parameters with --search" in refused.output


def test_a_preset_fills_what_the_command_line_leaves_out(sample_graph, settings):
    out = run_cli(settings, "train", "--model", "lightgcn", "--preset", "gowalla", "--epochs", "2", "--batch-size",
                  "512", "--threads", "1", "--no-publish")
    meta = list_runs(settings.runs_dir)[-1].meta
    assert meta["train_config"]["lr"] == 0.02 and meta["train_config"]["sampler"] == "user"
    assert meta["train_config"]["batch_size"] == 512 and meta["params"]["num_negatives"] == 64
    assert "refit" in meta and "the holdout chose" in out.stdout
    unknown = CliRunner().invoke(cli, ["--home", str(settings.home), "train", "--model", "mf", "--preset", "x"],
                                 env={"NEO4J_URI": ""})
    assert unknown.exit_code == 2 and "no preset 'x' for mf; it has: gowalla" in unknown.output


@pytest.mark.parametrize("args, message", [
    (["--lr-decay", "0.1", "--lr-decay-after", "2"], "add --eval-every 0"),
    (["--eval-every", "0", "--lr-decay-after", "2"], "needs --lr-decay"),
])
def test_lr_decay_after_refuses_what_it_cannot_replay(settings, args, message):
    result = CliRunner().invoke(cli, ["--home", str(settings.home), "train", "--model", "mf", *args],
                                env={"NEO4J_URI": ""})
    assert result.exit_code == 2 and message in result.output


def test_resume_refuses_a_run_without_checkpoint_and_other_data_settings(sample_graph, settings):
    args = ["train", "--model", "mf", "--epochs", "2", "--batch-size", "256", "--threads", "1", "--no-publish",
            "--split", "random"]
    run_cli(settings, *args)
    run = list_runs(settings.runs_dir)[-1]

    def resume(*extra):
        return CliRunner().invoke(cli, ["--home", str(settings.home), *args, *extra], env={"NEO4J_URI": ""})

    typo = resume("--resume", run.id + "x")
    assert typo.exit_code != 0 and "no checkpoint" in str(typo.exception)
    assert not (settings.runs_dir / (run.id + "x")).exists()  # no run was started under the mistyped id
    other = resume("--resume", run.id, "--seed", "7")
    assert other.exit_code == 2 and "was started with --seed 2020, not 7" in other.output
    same = resume("--resume", run.id)  # the finished run: nothing left to train, tested again, same numbers
    assert same.exit_code == 0, same.output
    again = list_runs(settings.runs_dir)[-1]
    assert again.id == run.id and again.meta["metrics"]["test"] == run.meta["metrics"]["test"]


def test_resume_reuses_the_options_the_run_started_with(sample_graph, settings, graph):
    """#34: without --epochs a resume used to train to 1000; a wrong --model was told to "use a new run folder";
    resuming a finished --no-publish run published it."""
    run_cli(settings, "train", "--model", "mf", "--epochs", "3", "--eval-every", "0", "--batch-size", "256",
            "--threads", "1", "--no-publish")
    run = list_runs(settings.runs_dir)[-1]
    resumed = CliRunner().invoke(cli, ["--home", str(settings.home), "train", "--resume", run.id],
                                 env={"NEO4J_URI": ""})
    assert resumed.exit_code == 0, resumed.output
    again = list_runs(settings.runs_dir)[-1]
    assert again.id == run.id and again.meta["epochs_run"] == 3 and again.meta["model"] == "mf"
    assert graph.read("publish.runs") == [], "a --no-publish run was published by its resume"
    wrong = CliRunner().invoke(cli, ["--home", str(settings.home), "train", "--resume", run.id, "--model", "lightgcn"],
                               env={"NEO4J_URI": ""})
    assert wrong.exit_code == 2 and f"run {run.id} was started with --model mf, not lightgcn" in wrong.output
    more = CliRunner().invoke(cli, ["--home", str(settings.home), "train", "--resume", run.id, "--epochs", "4"],
                              env={"NEO4J_URI": ""})
    assert more.exit_code == 0, more.output
    assert list_runs(settings.runs_dir)[-1].meta["epochs_run"] == 4


def test_a_closed_form_model_is_searched_on_valid_refitted_and_evaluated_again(sample_graph, settings):
    """#31: --search ranks the grid on the holdout, refits the best point on train + valid, tests once; the run's
    embeddings are the filter's low-pass part, and `graphrec evaluate` scores with the whole filter."""
    out = run_cli(settings, "train", "--model", "gfcf", "--search", "--grid", "alpha=0,0.5", "--hp", "k=8",
                  "--threads", "1", "--no-publish")
    assert "chosen on valid among 2 points" in out.stdout
    run = [r for r in list_runs(settings.runs_dir) if r.meta["model"] == "gfcf"][-1]
    trials = [json.loads(line) for line in (run.path / "search.jsonl").read_text().splitlines()]
    assert [t["hparams"]["alpha"] for t in trials] == [0.0, 0.5] and all(t["hparams"]["k"] == 8 for t in trials)
    best = max(trials, key=lambda t: t["valid"]["recall@20"])
    assert run.meta["params"] == best["hparams"] and run.meta["embeddings"] == "low-pass part"
    assert run.meta["counts"]["valid"] == 0  # refitted on train + valid
    assert run.embeddings()["item"].shape[1] == 8
    again = json.loads(run_cli(settings, "evaluate", run.id, "-k", "20", "--json").stdout)
    assert again["recall@20"] == pytest.approx(run.meta["metrics"]["test"]["recall@20"], abs=1e-6)


def test_a_closed_form_model_without_search_fits_on_all_non_test_data(sample_graph, settings):
    out = run_cli(settings, "train", "--model", "itemknn", "--hp", "k=10", "--threads", "1")
    assert "fitted in" in out.stdout and "itemknn's item–item part: " in out.stderr  # published, from its rows
    run = [r for r in list_runs(settings.runs_dir) if r.meta["model"] == "itemknn"][-1]
    assert run.meta["embeddings"] == "none" and run.meta["counts"]["valid"] == 0
    result = CliRunner().invoke(cli, ["--home", str(settings.home), "train", "--model", "lightgcn", "--search"])
    assert result.exit_code != 0 and "lightgcn trains by epochs" in result.output


def test_evaluate_against_compares_two_runs_on_the_same_users_paired(sample_graph, settings):
    for model in ("ials", "popularity"):
        run_cli(settings, "train", "--model", model, "--threads", "1", "--no-publish")
    run_cli(settings, "train", "--model", "popularity", "--threads", "1", "--no-publish", "--split-seed", "3")
    ials, popularity, other_split = list_runs(settings.runs_dir)[-3:]
    result = json.loads(run_cli(settings, "evaluate", ials.id, "--against", popularity.id, "-k", "20",
                                "--json").stdout)
    assert (result["a"], result["b"], result["split"]) == (ials.id, popularity.id, "test")
    for run, key in ((ials, "metrics_a"), (popularity, "metrics_b")):  # each as `evaluate` alone gives it
        alone = json.loads(run_cli(settings, "evaluate", run.id, "-k", "20", "--json").stdout)
        assert result[key] == pytest.approx(alone)
    for metric in ("recall@20", "ndcg@20"):
        row = result["paired"][metric]
        assert row["a"] == pytest.approx(result["metrics_a"][metric])
        assert row["diff"] == pytest.approx(row["a"] - row["b"]) and row["low"] <= row["diff"] <= row["high"]
        assert result["users"] == result["metrics_a"]["n_users"]
    same = json.loads(run_cli(settings, "evaluate", ials.id, "--against", ials.id, "--json").stdout)
    assert same["paired"]["recall@20"]["diff"] == 0.0 and same["paired"]["recall@20"]["verdict"] == "within the noise"
    text = run_cli(settings, "evaluate", ials.id, "--against", popularity.id).stdout
    assert f"A {ials.id} against B {popularity.id}" in text and "recall@20" in text
    # another split seed held out other interactions: no pairing
    refused = CliRunner().invoke(cli, ["--home", str(settings.home), "evaluate", ials.id, "--against",
                                       other_split.id], env={"NEO4J_URI": ""})
    assert refused.exit_code != 0 and "split differently" in str(refused.exception)
