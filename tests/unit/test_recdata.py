import math

import pytest
import torch

from graphrec.errors import ConfigError, InputError
from graphrec.recdata import RecData, contains, holdout
from tests.unit.conftest import import_hetero_data, random_pairs


def test_from_pairs_builds_sorted_csr_and_drops_duplicates():
    train = torch.tensor([[1, 0, 1, 1, 0], [3, 2, 0, 3, 1]])
    data = RecData.from_pairs(3, 4, train)
    assert data.train.indptr.tolist() == [0, 2, 4, 4]
    assert data.train.indices.tolist() == [1, 2, 0, 3]
    assert data.valid.nnz == 0 and data.test.nnz == 0
    users, items = data.train.pairs()
    assert users.tolist() == [0, 0, 1, 1]


def test_from_pairs_rejects_out_of_range_ids():
    with pytest.raises(ConfigError, match="'test'.*item index out of range"):
        RecData.from_pairs(2, 2, torch.tensor([[0], [1]]), None, torch.tensor([[0], [5]]))


def test_from_hetero_follows_the_export_contract():
    HeteroData = import_hetero_data()

    data = HeteroData()
    data["user"].num_nodes = 3
    data["item"].num_nodes = 5
    data["entity"].num_nodes = 2
    data["user", "interacted", "item"].edge_index = torch.tensor([[0, 0, 1, 2, 2], [1, 4, 2, 0, 3]])
    data["user", "interacted", "item"].split = torch.tensor([0, 2, 0, 1, 0], dtype=torch.int8)
    data["user", "interacted", "item"].weight = torch.ones(5)
    rec = RecData.from_hetero(data)
    assert (rec.n_users, rec.n_items) == (3, 5)
    assert torch.stack(rec.train.pairs()).tolist() == [[0, 1, 2], [1, 2, 3]]
    assert torch.stack(rec.valid.pairs()).tolist() == [[2], [0]]
    assert torch.stack(rec.test.pairs()).tolist() == [[0], [4]]


def test_from_hetero_rejects_bad_split_codes():
    HeteroData = import_hetero_data()

    data = HeteroData()
    data["user"].num_nodes = 1
    data["item"].num_nodes = 1
    data["user", "interacted", "item"].edge_index = torch.tensor([[0], [0]])
    data["user", "interacted", "item"].split = torch.tensor([7])
    with pytest.raises(InputError, match="split codes must be 0/1/2, found 7"):
        RecData.from_hetero(data)


def test_holdout_is_a_seeded_partition_that_keeps_a_train_item_per_user():
    pairs = random_pairs(50, 40, 600, seed=1)
    data = RecData.from_pairs(50, 40, pairs)
    train, valid = holdout(data.train, 0.2, seed=3, n_items=40)
    again_train, again_valid = holdout(data.train, 0.2, seed=3, n_items=40)
    assert torch.equal(valid.indices, again_valid.indices) and torch.equal(train.indptr, again_train.indptr)
    original = set(map(tuple, torch.stack(data.train.pairs()).t().tolist()))
    kept = set(map(tuple, torch.stack(train.pairs()).t().tolist()))
    held = set(map(tuple, torch.stack(valid.pairs()).t().tolist()))
    assert kept | held == original and not kept & held
    has_items = data.train.counts() > 0
    assert bool((train.counts()[has_items] >= 1).all())
    assert abs(valid.nnz / data.train.nnz - 0.2) < 0.05
    _, other = holdout(data.train, 0.2, seed=4, n_items=40)
    assert not torch.equal(other.indices, valid.indices)


def test_with_holdout_refuses_data_that_has_a_valid_split():
    data = RecData.from_pairs(2, 2, torch.tensor([[0, 1], [0, 1]]), torch.tensor([[0], [1]]))
    with pytest.raises(ConfigError, match="already has a valid split"):
        data.with_holdout(0.1, seed=0)


def test_without_valid_folds_valid_into_train_and_leaves_test():
    pairs = random_pairs(30, 25, 300, seed=8)
    data = RecData.from_pairs(30, 25, pairs).with_holdout(0.2, seed=1)
    data = RecData.from_pairs(30, 25, torch.stack(data.train.pairs()), torch.stack(data.valid.pairs()),
                              torch.tensor([[0, 1], [3, 4]]))
    folded = data.without_valid()
    assert folded.valid.nnz == 0 and folded.test is data.test
    assert torch.equal(folded.train.keys(25), torch.unique(torch.cat([data.train.keys(25), data.valid.keys(25)])))
    assert folded.train.nnz == data.train.nnz + data.valid.nnz  # the holdout is disjoint from train
    assert bool((folded.train.indptr[1:] >= folded.train.indptr[:-1]).all())
    assert folded.without_valid() is folded  # nothing left to fold


def test_contains():
    keys = torch.tensor([2, 5, 9])
    assert contains(keys, torch.tensor([0, 2, 5, 6, 9, 10])).tolist() == [False, True, True, False, True, False]
    assert contains(torch.empty(0, dtype=torch.long), torch.tensor([1])).tolist() == [False]


def test_weights_follow_their_interactions_into_csr_order_and_duplicates_sum():
    # rows out of order; (1, 3) twice (a view and a purchase): 2 + NaN(=1) = 3
    train = torch.tensor([[1, 0, 1, 1, 0], [3, 2, 0, 3, 1]])
    weights = torch.tensor([2.0, 5.0, float("nan"), float("nan"), 7.0])
    data = RecData.from_pairs(3, 4, train, torch.tensor([[2], [1]]), None,
                              weights=(weights, torch.tensor([4.0]), None))
    assert data.train.indices.tolist() == [1, 2, 0, 3]
    assert data.train.weights.tolist()[:2] == [7.0, 5.0] and math.isnan(data.train.weights[2])
    assert data.train.weights[3] == 3.0
    assert data.valid.weights.tolist() == [4.0] and data.test.weights is None
    assert RecData.from_pairs(3, 4, train).train.weights is None


def test_from_hetero_carries_weights_per_split_in_csr_order():
    HeteroData = import_hetero_data()

    data = HeteroData()
    data["user"].num_nodes = 3
    data["item"].num_nodes = 5
    store = data["user", "interacted", "item"]
    store.edge_index = torch.tensor([[2, 0, 1, 0, 2, 1], [3, 4, 2, 1, 0, 0]])
    store.split = torch.tensor([0, 2, 0, 0, 1, 0], dtype=torch.int8)
    store.weight = torch.tensor([30.0, 40.0, 12.0, 1.0, 20.0, float("nan")])
    rec = RecData.from_hetero(data)
    weight_of = {(u, i): w for (u, i), w in zip(store.edge_index.t().tolist(), store.weight.tolist())}
    for name in ("train", "valid", "test"):
        split = rec.split(name)
        expected = [weight_of[pair] for pair in zip(*(t.tolist() for t in split.pairs()))]
        assert torch.allclose(split.weights, torch.tensor(expected), rtol=0, atol=0, equal_nan=True)
    assert rec.train.weights[:1].tolist() == [1.0] and math.isnan(rec.train.weights[1])  # (0, 1), then (1, 0)
    store.weight = torch.full((6,), float("nan"))  # no weight anywhere: unweighted data
    assert RecData.from_hetero(data).train.weights is None
    del store.weight
    assert RecData.from_hetero(data).train.weights is None


def test_holdout_and_without_valid_keep_each_weight_with_its_interaction():
    pairs = random_pairs(30, 25, 300, seed=8)
    weights = (pairs[0] * 100 + pairs[1]).float()  # a weight that names its own pair
    data = RecData.from_pairs(30, 25, pairs, weights=(weights, None, None)).with_holdout(0.2, seed=1)
    for split in (data.train, data.valid):
        users, items = split.pairs()
        assert torch.equal(split.weights, (users * 100 + items).float())
    folded = data.without_valid()
    users, items = folded.train.pairs()
    assert folded.train.nnz == pairs.size(1) and torch.equal(folded.train.weights, (users * 100 + items).float())
    plain = RecData.from_pairs(30, 25, pairs).with_holdout(0.2, seed=1)
    assert plain.train.weights is None and plain.without_valid().train.weights is None
    assert torch.equal(plain.without_valid().train.indices, folded.train.indices)
