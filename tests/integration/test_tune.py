"""`graphrec tune` against the real server: the search, its records, the refit run, a resume, `train --model auto`."""

from __future__ import annotations

import json
import re

import torch

from graphrec.ingest import ingest
from graphrec.runs import list_runs
from graphrec.choice import choose
from loaders.records import Dataset, Interaction
from tests.integration.cli_helpers import run_cli


def small_graph(graph) -> None:
    gen = torch.Generator().manual_seed(3)
    keys = torch.unique(torch.randint(40 * 60, (700,), generator=gen)).tolist()
    ingest(graph, Dataset("tune", interactions=[Interaction(f"u{k // 60}", f"i{k % 60}") for k in keys]))


def test_tune_auto_records_every_trial_serves_the_winner_and_resumes(graph, settings):
    small_graph(graph)
    args = ("tune", "--model", "auto", "--models", "mf,mhcn,kgat", "--epochs", "4", "--threads", "1")
    out = run_cli(settings, *args, "--trials", "1").output
    assert "skipped mhcn: the graph has no social ties (FOLLOWS)" in out
    assert "skipped kgat: the graph has no knowledge-graph facts" in out
    assert re.search(r"^popularity +0 complete", out, re.M) and re.search(r"^mf +0 complete", out, re.M)
    study = re.search(r"continue it with --resume (\S+)\)", out).group(1)
    run = list_runs(settings.runs_dir)[-1]
    tuned = run.meta["tune"]
    assert tuned["study"] == study and f"run {run.id}: refitted on train + valid" in out
    rows = [json.loads(line) for line in (run.path / "trials.jsonl").read_text().splitlines()]
    checks = [json.loads(line) for line in (run.path / "rechecks.jsonl").read_text().splitlines()]
    assert {c["holdout"] for c in checks} == {1, 2} and re.search(r"^re-check \w+ on holdout 3 of 3", out, re.M)
    assert re.search(r"^closed-form leaders re-checked on 2 more holdouts", out, re.M)
    winner = choose(rows, list(dict.fromkeys(r["model"] for r in rows)), checks)
    assert tuned["chosen"]["model"] == winner["model"] == run.meta["model"]
    assert tuned["chosen"]["params"] == winner["params"]
    assert tuned["chosen"]["rechecked_holdouts"] == winner.get("holdouts", 0)
    assert run.meta["metrics"]["test"] and (run.path / "trials.svg").is_file()
    assert f"published {run.id} to the graph" in out
    assert run.meta["valid_origin"] == "the split's own" and re.search(
        r"^split random 0.8:0.1:0.1 per user.*0 valid.*\(searched on the split's own valid\)$", out, re.M)

    again = run_cli(settings, *args, "--trials", "2", "--resume", study, "--no-publish").output
    assert re.search(r"^mf +1 complete", again, re.M)  # one more trial of the trained model, the rest kept
    assert len(re.findall(r"^popularity +0 complete", again, re.M)) == 1
    assert not re.search(r"^re-check \w+ on holdout", again, re.M)  # the re-checks kept, not run again
    resumed = [json.loads(line) for line in (settings.runs_dir / study / "trials.jsonl").read_text().splitlines()]
    assert [r for r in resumed if r["model"] == "mf"][0] == [r for r in rows if r["model"] == "mf"][0]


def test_train_model_auto_is_tune_auto(graph, settings):
    small_graph(graph)
    out = run_cli(settings, "train", "--model", "auto", "--budget-minutes", "1", "--epochs", "3", "--threads", "1",
                  "--no-publish").output
    assert "chosen on the holdout:" in out and "skipped diffnet" in out
