"""The results file of benchmarks/side_graphs.py: a run that used up its time budget resumes when given more."""

import json

from benchmarks.side_graphs import _more_time, _record


def test_a_budget_limited_record_is_rerun_only_with_a_larger_budget_and_then_replaced(tmp_path):
    spent = {"dataset": "gowalla", "label": "sgl", "seed": 0, "budget_minutes": 20, "budget_spent": True, "epochs": 1}
    converged = {**spent, "label": "xsimgcl", "budget_spent": False}
    assert _more_time(spent, 60) and not _more_time(spent, 20) and not _more_time(spent, None)
    assert not _more_time(converged, 60)  # stopped early on validation: more time changes nothing

    out = tmp_path / "results.jsonl"
    for record in (spent, converged, {**spent, "dataset": "ml-1m"}):
        _record(out, record)
    _record(out, {**spent, "budget_minutes": 60, "epochs": 5})
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["dataset"], r["label"], r["epochs"]) for r in records] == \
        [("gowalla", "xsimgcl", 1), ("ml-1m", "sgl", 1), ("gowalla", "sgl", 5)]


def test_a_resumed_runs_peak_memory_is_the_largest_over_its_processes(tmp_path):
    from benchmarks.side_graphs import peak_rss_mb

    run = tmp_path / "run"
    own = peak_rss_mb(None)  # no run folder: this process's own
    assert own > 0 and not run.exists()
    assert peak_rss_mb(str(run)) >= own  # first segment: its own, kept in the folder
    (run / "peak_rss_mb.json").write_text("1e9")  # an earlier segment (another process) peaked higher
    assert peak_rss_mb(str(run)) == 1e9
    assert json.loads((run / "peak_rss_mb.json").read_text()) == 1e9
