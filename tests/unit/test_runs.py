import pytest
import torch

from graphrec.errors import NotFoundError
from graphrec.export import IdMaps
from graphrec.runs import list_runs, load_run, new_run_id, save_run


def test_save_and_load_round_trip(tmp_path):
    ids = IdMaps({"user": ["a", "b"], "item": ["x", "y", "z"], "entity": []})
    emb = {"user": torch.randn(2, 4), "item": torch.randn(3, 4)}
    run_id = new_run_id("lightgcn")
    save_run(tmp_path, {"id": run_id, "model": "lightgcn"}, ids, emb)
    run = load_run(tmp_path, run_id)
    assert run.ids().ids == ids.ids and torch.equal(run.embeddings()["item"], emb["item"])
    assert load_run(tmp_path, "latest").id == run_id and [r.id for r in list_runs(tmp_path)] == [run_id]


def test_mismatched_rows_and_unknown_runs_are_refused(tmp_path):
    ids = IdMaps({"user": ["a"], "item": ["x"], "entity": []})
    with pytest.raises(ValueError, match="user embeddings"):
        save_run(tmp_path, {"id": "r1"}, ids, {"user": torch.zeros(2, 3), "item": torch.zeros(1, 3)})
    with pytest.raises(NotFoundError, match="no run"):
        load_run(tmp_path, "../etc")
    with pytest.raises(NotFoundError, match="train one"):
        load_run(tmp_path, "latest")
