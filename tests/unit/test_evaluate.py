import pytest
import torch

from graphrec.errors import ConfigError
from graphrec.evaluate import evaluate
from graphrec.recdata import RecData


def small():
    train = torch.tensor([[0, 0, 1, 2], [0, 1, 2, 3]])
    valid = torch.tensor([[0, 1], [2, 3]])
    test = torch.tensor([[0, 1, 1], [3, 0, 4]])  # user 2 has no test items: excluded
    return RecData.from_pairs(3, 6, train, valid, test)


def scorer_preferring(items_order, n_items=6):
    """Every user scores items in the same fixed order (first = best)."""
    scores = torch.zeros(n_items)
    scores[torch.tensor(items_order)] = torch.arange(n_items, n_items - len(items_order), -1, dtype=torch.float)
    return lambda users: scores.expand(users.numel(), n_items).clone()


def test_known_items_are_masked_and_users_without_targets_are_skipped():
    d = small()
    # Train/valid items get the best scores; they must be masked, leaving the test items at the top.
    out = evaluate(scorer_preferring([0, 1, 2, 3, 4, 5]), d, "test", ks=(1, 2))
    # user 0: train {0,1}, valid {2} masked -> ranking 3,4,5: test {3} hit at 1.
    # user 1: train {2}, valid {3} masked -> ranking 0,1,4,5: test {0,4}: hit at 1 (0), 4 at rank 3.
    assert out["n_users"] == 2.0
    assert out["recall@1"] == pytest.approx((1 + 0.5) / 2)
    assert out["recall@2"] == pytest.approx((1 + 0.5) / 2)
    assert out["precision@2"] == pytest.approx((0.5 + 0.5) / 2)
    valid = evaluate(scorer_preferring([0, 1, 2, 3, 4, 5]), d, "valid", ks=(1,))
    # valid masks train only: user 0 -> 2 first (hit), user 1 -> 0 first (miss); user 2 has no valid items.
    assert valid["recall@1"] == pytest.approx(1 / 2) and valid["n_users"] == 2.0


def test_embedding_tuple_and_callable_agree_across_batch_sizes():
    gen = torch.Generator().manual_seed(0)
    d = small()
    user_emb, item_emb = torch.randn(3, 4, generator=gen), torch.randn(6, 4, generator=gen)
    a = evaluate((user_emb, item_emb), d, "test", ks=(1, 3), batch_users=1, beyond_accuracy=True)
    b = evaluate(lambda u: user_emb[u] @ item_emb.t(), d, "test", ks=(1, 3), batch_users=2, beyond_accuracy=True)
    assert a == pytest.approx(b)
    assert all(isinstance(v, float) for v in a.values())


def test_rejects_unknown_split_and_too_large_k():
    with pytest.raises(ConfigError, match="'train'"):
        evaluate(scorer_preferring([0]), small(), "train")
    with pytest.raises(ConfigError, match="exceeds n_items"):
        evaluate(scorer_preferring([0]), small(), "test", ks=(7,))


def test_each_users_values_average_to_the_metrics_and_name_the_users():
    d = small()
    per_user = {}
    out = evaluate(scorer_preferring([0, 1, 2, 3, 4, 5]), d, "test", ks=(1, 2), batch_users=1, per_user=per_user)
    assert per_user["users"].tolist() == [0, 1]  # user 2 has no test items
    assert per_user["recall@1"].tolist() == [1.0, 0.5] and per_user["precision@2"].tolist() == [0.5, 0.5]
    for key, values in per_user.items():
        if key != "users":
            assert float(values.mean()) == pytest.approx(out[key])
