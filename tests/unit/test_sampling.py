import torch

from graphrec.recdata import RecData
from graphrec.sampling import bpr_epoch, n_batches, sample_negatives
from tests.unit.conftest import random_pairs


def data():
    # Dense enough (~40% of items per user) that plain uniform negatives would often hit positives.
    return RecData.from_pairs(30, 20, random_pairs(30, 20, 300, seed=2))


def test_negatives_are_never_training_positives_and_epoch_covers_each_interaction_once():
    d = data()
    positives = set(map(tuple, torch.stack(d.train.pairs()).t().tolist()))
    batches = list(bpr_epoch(d.train, d.n_items, 64, torch.Generator().manual_seed(0)))
    assert len(batches) == n_batches(d.train, 64)
    seen = []
    for batch in batches:
        for u, p, n in zip(batch.users.tolist(), batch.pos.tolist(), batch.neg.tolist()):
            assert (u, p) in positives
            assert (u, n) not in positives
            seen.append((u, p))
    assert sorted(seen) == sorted(positives)


def test_sampling_is_seeded():
    d = data()
    a = list(bpr_epoch(d.train, d.n_items, 50, torch.Generator().manual_seed(7)))
    b = list(bpr_epoch(d.train, d.n_items, 50, torch.Generator().manual_seed(7)))
    c = list(bpr_epoch(d.train, d.n_items, 50, torch.Generator().manual_seed(8)))
    assert all(torch.equal(x, y) for ba, bb in zip(a, b) for x, y in zip(ba, bb))
    assert not all(torch.equal(x.neg, y.neg) for x, y in zip(a, c))


def test_sample_negatives_for_a_user_with_one_free_item():
    train = RecData.from_pairs(1, 4, torch.tensor([[0, 0, 0], [0, 1, 3]])).train
    neg = sample_negatives(torch.zeros(100, dtype=torch.long), train.keys(4), 4, torch.Generator().manual_seed(0))
    assert neg.tolist() == [2] * 100


def test_user_sampler_draws_users_uniformly_then_their_items_uniformly():
    # user 0 has 1 item, user 1 has 8, user 2 none (never drawn), user 3 has 3.
    pairs = torch.tensor([[0, 1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 3],
                          [5, 0, 1, 2, 3, 4, 5, 6, 7, 2, 4, 9]])
    d = RecData.from_pairs(4, 10, pairs)
    positives = set(map(tuple, pairs.t().tolist()))
    gen = torch.Generator().manual_seed(3)
    drawn = []
    for _ in range(2000):
        batches = list(bpr_epoch(d.train, d.n_items, 5, gen, sampler="user"))
        assert len(batches) == n_batches(d.train, 5) and sum(b.users.numel() for b in batches) == d.train.nnz
        for b in batches:
            drawn += list(zip(b.users.tolist(), b.pos.tolist(), b.neg.tolist()))
    assert all((u, p) in positives and (u, n) not in positives for u, p, n in drawn)
    n = len(drawn)  # 24,000 draws
    user_share = torch.bincount(torch.tensor([u for u, _, _ in drawn]), minlength=4).double() / n
    assert user_share[2] == 0
    assert torch.allclose(user_share[[0, 1, 3]], torch.full((3,), 1 / 3, dtype=torch.float64), atol=0.015)
    user1 = torch.tensor([p for u, p, _ in drawn if u == 1])
    item_share = torch.bincount(user1, minlength=8).double() / user1.numel()
    assert torch.allclose(item_share, torch.full((8,), 1 / 8, dtype=torch.float64), atol=0.015)
    # Interaction sampling weights users by their item counts instead: user 1 gets 8 of the 12 triples.
    inter = list(bpr_epoch(d.train, d.n_items, 12, gen))
    assert (inter[0].users == 1).sum() == 8


def test_unknown_sampler_is_refused():
    import pytest

    from graphrec.errors import ConfigError

    with pytest.raises(ConfigError, match="sampler"):
        list(bpr_epoch(data().train, 20, 8, torch.Generator(), sampler="items"))


def test_weighted_sampler_draws_interactions_in_proportion_to_their_weight():
    # NaN counts 1; weight 0 is never drawn. 4,000 epochs of 8 draws = 32,000 draws.
    pairs = torch.tensor([[0, 0, 0, 1, 1, 2, 2, 3],
                          [1, 4, 6, 0, 2, 3, 5, 7]])
    weights = torch.tensor([1.0, 2.0, 3.0, 4.0, float("nan"), 0.0, 9.0, 0.5])
    d = RecData.from_pairs(4, 10, pairs, weights=(weights, None, None))
    index = {pair: k for k, pair in enumerate(map(tuple, pairs.t().tolist()))}
    positives = set(index)
    gen = torch.Generator().manual_seed(11)
    counts = torch.zeros(8, dtype=torch.float64)
    for _ in range(4000):
        batches = list(bpr_epoch(d.train, d.n_items, 3, gen, sampler="weighted"))
        assert len(batches) == n_batches(d.train, 3) and sum(b.users.numel() for b in batches) == d.train.nnz
        for b in batches:
            for u, p, n in zip(b.users.tolist(), b.pos.tolist(), b.neg.tolist()):
                assert (u, n) not in positives
                counts[index[(u, p)]] += 1
    n = counts.sum()
    expected = torch.nan_to_num(weights.double(), nan=1.0)
    expected /= expected.sum()
    assert counts[5] == 0
    # Seeded, so the outcome is fixed; the bound (5 binomial standard deviations, ~0.005 here) would still hold
    # with near certainty for any seed, so a change of torch's generator cannot make it flake.
    sd = (expected * (1 - expected) / n).sqrt()
    assert bool(((counts / n - expected).abs() <= 5 * sd).all()), (counts / n, expected)


def test_weighted_sampler_refuses_data_without_usable_weights():
    import pytest

    from graphrec.errors import ConfigError

    pairs = torch.tensor([[0, 1], [0, 1]])
    gen = torch.Generator().manual_seed(0)
    with pytest.raises(ConfigError, match="carry none"):
        list(bpr_epoch(RecData.from_pairs(2, 3, pairs).train, 3, 4, gen, sampler="weighted"))
    for bad, match in ((torch.tensor([1.0, -2.0]), "negative or infinite"),
                       (torch.tensor([1.0, float("inf")]), "negative or infinite"),
                       (torch.tensor([0.0, 0.0]), "weight 0")):
        train = RecData.from_pairs(2, 3, pairs, weights=(bad, None, None)).train
        with pytest.raises(ConfigError, match=match):
            list(bpr_epoch(train, 3, 4, gen, sampler="weighted"))


def test_weights_leave_the_other_samplers_draws_unchanged():
    d = data()
    weighted = RecData.from_pairs(30, 20, torch.stack(d.train.pairs()),
                                  weights=(torch.rand(d.train.nnz, generator=torch.Generator().manual_seed(1)),
                                           None, None))
    for sampler in ("interaction", "user"):
        a = list(bpr_epoch(d.train, d.n_items, 50, torch.Generator().manual_seed(7), sampler))
        b = list(bpr_epoch(weighted.train, d.n_items, 50, torch.Generator().manual_seed(7), sampler))
        assert all(torch.equal(x, y) for ba, bb in zip(a, b) for x, y in zip(ba, bb))
