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
