import pytest
import torch

from graphrec.compare import paired, verdict
from graphrec.errors import ConfigError


def values(recall, users=None):
    recall = torch.tensor(recall, dtype=torch.float64)
    users = torch.arange(recall.numel()) if users is None else torch.tensor(users)
    return {"users": users, "recall@20": recall}


def test_the_same_run_twice_differs_by_nothing():
    a = values([0.1, 0.5, 0.9, 0.0])
    row = paired(a, a, ("recall@20",))["recall@20"]
    assert row["diff"] == row["low"] == row["high"] == 0.0 and row["a_ahead"] == 1.0
    assert verdict(row) == "within the noise"


def test_a_run_ahead_on_every_user_is_ahead_and_the_interval_holds_the_difference():
    gen = torch.Generator().manual_seed(1)
    b = torch.rand(500, generator=gen, dtype=torch.float64) * 0.5
    row = paired(values((b + 0.1).tolist()), values(b.tolist()), ("recall@20",))["recall@20"]
    assert row["diff"] == pytest.approx(0.1) and row["low"] == pytest.approx(0.1) and verdict(row) == "A ahead"
    back = paired(values(b.tolist()), values((b + 0.1).tolist()), ("recall@20",))["recall@20"]
    assert verdict(back) == "B ahead" and back["a_ahead"] == 0.0


def test_a_gap_of_one_user_in_hundreds_is_within_the_noise_and_reproducible():
    gen = torch.Generator().manual_seed(2)
    b = (torch.rand(800, generator=gen, dtype=torch.float64) < 0.8).double()
    a = b.clone()
    flipped = torch.nonzero(a == 1).reshape(-1)[:20]
    a[flipped] = 0.0  # A loses 20 users B got right ...
    gained = torch.nonzero(b == 0).reshape(-1)[:19]
    a[gained] = 1.0  # ... and gets 19 right that B missed: one user's difference
    row = paired(values(a.tolist()), values(b.tolist()), ("recall@20",), seed=3)["recall@20"]
    assert row["diff"] == pytest.approx(-1 / 800) and row["low"] < 0 < row["high"]
    assert verdict(row) == "within the noise" and 0.0 < row["a_ahead"] < 1.0
    assert paired(values(a.tolist()), values(b.tolist()), ("recall@20",), seed=3)["recall@20"] == row


def test_runs_that_ranked_other_users_are_refused():
    with pytest.raises(ConfigError, match="different users"):
        paired(values([0.1, 0.2]), values([0.1, 0.2], users=[0, 2]), ("recall@20",))
    with pytest.raises(ConfigError, match="draws"):
        paired(values([0.1]), values([0.1]), ("recall@20",), draws=0)


def test_the_draws_come_in_chunks_from_the_same_stream(monkeypatch):
    import graphrec.compare as compare

    gen = torch.Generator().manual_seed(4)
    a, b = torch.rand(300, generator=gen).tolist(), torch.rand(300, generator=gen).tolist()
    whole = paired(values(a), values(b), ("recall@20",), draws=50)
    monkeypatch.setattr(compare, "CHUNK", 7 * 300)  # seven draws at a time, the last chunk short
    assert paired(values(a), values(b), ("recall@20",), draws=50) == whole
