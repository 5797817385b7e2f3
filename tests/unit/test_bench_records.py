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


def test_scaling_record_files_merge_with_the_earlier_file_first_and_the_ltgnn_table_is_one_run():
    from benchmarks.scaling import ltgnn_table, merge_records

    def record(size, stage, epoch, load):
        return {"interactions": size, "stage": stage, "status": "ok", "seconds": epoch + 10, "load": [load, load],
                "rss_peak_mb": 1024, "jvm_peak_mb": 2048,
                "phases": {"epoch": {"seconds": epoch}, "test": {"seconds": 1.0}}}

    main = [record(10**6, "train1", 129.5, 12)]
    ltgnn_run = [record(10**6, "train1", 115.5, 7), record(10**6, "ltgnn", 20.5, 7),
                 record(3 * 10**6, "ltgnn", 60.0, 8)]
    merged = merge_records([main, ltgnn_run])
    assert [(r["interactions"], r["stage"], r["phases"]["epoch"]["seconds"]) for r in merged] == \
        [(10**6, "train1", 129.5), (10**6, "ltgnn", 20.5), (3 * 10**6, "ltgnn", 60.0)]
    rows = ltgnn_table(ltgnn_run).splitlines()[2:]
    assert rows[0].startswith("| 1,000,000 | 115.5 | 20.5 | 5.6x |") and rows[1].startswith("| 3,000,000 | - | 60.0 |")


def test_the_budgeted_search_report_sets_auto_beside_the_best_single_model_and_lightgcn_at_defaults(tmp_path):
    from benchmarks.budgeted_search import report

    def record(dataset, label, model, recall, **extra):
        return {"dataset": dataset, "label": label, "model": model, "wall_s": 100.0, "trials": extra.get("trials"),
                "epochs_run": extra.get("epochs"), "test": {"recall@20": recall, "ndcg@20": recall / 2}}

    out = tmp_path / "r.jsonl"
    out.write_text("\n".join(json.dumps(r) for r in [
        record("a", "auto", "turbocf", 0.30, trials=40), record("a", "default-ease", "ease", 0.35),
        record("a", "default-lightgcn", "lightgcn", 0.20, epochs=9), record("b", "default-gfcf", "gfcf", 0.10),
        record("a", "default-ease", "ease", 0.25)]))  # a rerun replaces the earlier record
    lines = report(out).splitlines()
    assert lines[2] == "| a | turbocf (40) | 100 s | 0.3000 / 0.1500 | ease | 0.2500 / 0.1250 | 9 | 0.2000 / 0.1000 |"
    assert lines[3] == "| b | - | - | - | gfcf | 0.1000 / 0.0500 | - | - |"
    assert "| ease | 0.2500 | - |" in lines and "| gfcf | - | 0.1000 |" in lines


def test_the_split_check_redraws_every_interaction_and_reads_presets_and_settings():
    import torch

    from benchmarks.split_check import model_settings, resplit
    from graphrec.recdata import RecData

    gen = torch.Generator().manual_seed(0)
    pairs = torch.unique(torch.stack([torch.randint(0, 20, (400,), generator=gen),
                                      torch.randint(0, 30, (400,), generator=gen)]), dim=1)
    order = torch.randperm(pairs.size(1), generator=gen)
    data = RecData.from_pairs(20, 30, pairs[:, order[:300]], None, pairs[:, order[300:]])
    train, test = resplit(data, 0.2, 7)
    pooled = torch.cat([data.train.keys(30), data.test.keys(30)]).sort().values
    assert torch.equal(torch.cat([train.keys(30), test.keys(30)]).sort().values, pooled)
    assert torch.equal(test.counts(), torch.minimum(torch.round((train.counts() + test.counts()) * 0.2).long(),
                                                    train.counts() + test.counts() - 1))
    assert not torch.equal(test.keys(30), data.test.keys(30))
    name, label, hparams = model_settings("chebycf:gowalla", ["chebycf:alpha=0.4", "sgfcf:eps=0.3"])
    assert (name, label) == ("chebycf", "chebycf:gowalla") and hparams["alpha"] == 0.4 and hparams["K"] == 8
    assert model_settings("bspm", ["bspm:solver=euler"]) == ("bspm", "bspm", {"solver": "euler"})


def test_the_split_check_runs_on_a_lightgcn_folder(tmp_path, monkeypatch):
    import json

    import torch

    import benchmarks.split_check as split_check

    folder = tmp_path / "tiny"
    folder.mkdir()
    gen = torch.Generator().manual_seed(1)
    lines = {"train": [], "test": []}
    for u in range(40):
        items = torch.randperm(30, generator=gen)[:6 + u % 5].tolist()
        lines["train"].append(" ".join(map(str, [u, *items[2:]])))
        lines["test"].append(" ".join(map(str, [u, *items[:2]])))
    for split, rows in lines.items():
        (folder / f"{split}.txt").write_text("\n".join(rows) + "\n")
    monkeypatch.setattr(split_check, "DATA", tmp_path)
    out = tmp_path / "records.jsonl"
    split_check.main(["--dataset", "tiny", "--models", "gfcf", "--hp", "gfcf:k=4", "--users", "20", "--out", str(out)])
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["split"] for r in records] == ["original", "re-randomised"]
    assert all(r["users"] > 0 and 0 <= r["recall@20"] <= 1 and r["hparams"] == {"k": 4} for r in records)
    assert records[0]["fraction"] == round(80 / (80 + sum(4 + u % 5 for u in range(40))), 4)


def test_scaling_publishes_the_ltgnn_run_where_lightgcn_broke_and_skips_what_needs_a_broken_stage():
    from benchmarks.scaling import skip_reason

    stages = ["ingest", "train1", "ltgnn", "publish", "query"]
    broken = {"train1": "timeout at 10,000,000 interactions"}
    assert skip_reason("publish", stages, broken) is None  # the LTGNN run is published instead
    assert skip_reason("publish", ["ingest", "ltgnn", "publish"], {}) is None
    assert skip_reason("train1", stages, broken) == "timeout at 10,000,000 interactions"
    both = {**broken, "ltgnn": "memory at 10,000,000 interactions"}
    assert skip_reason("publish", stages, both) == "timeout at 10,000,000 interactions"
    assert skip_reason("ltgnn", stages, {"ingest": "failed at 100,000 interactions"}) == \
        "failed at 100,000 interactions"
    assert skip_reason("publish", ["ingest", "train1", "publish"], broken) == "timeout at 10,000,000 interactions"
