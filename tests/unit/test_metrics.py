import math

import pytest
import torch

from graphrec.metrics import RankingMetrics, gini


def naive(ranked, truth, k, pop=None, n_users=None):
    """Per-user definitions, written as plainly as possible."""
    top = ranked[:k]
    rel = [1 if i in truth else 0 for i in top]
    hits = sum(rel)
    dcg = sum(r / math.log2(i + 2) for i, r in enumerate(rel))
    idcg = sum(1 / math.log2(i + 2) for i in range(min(len(truth), k)))
    rr = next((1 / (i + 1) for i, r in enumerate(rel) if r), 0.0)
    ap = sum(sum(rel[:i + 1]) / (i + 1) for i, r in enumerate(rel) if r) / min(len(truth), k)
    return {"recall": hits / len(truth), "precision": hits / k, "hit": float(hits > 0), "ndcg": dcg / idcg,
            "mrr": rr, "map": ap}


@pytest.mark.parametrize("seed", [0, 1])
def test_metrics_match_a_naive_per_user_loop(seed):
    gen = torch.Generator().manual_seed(seed)
    n_users, n_items, ks = 40, 30, (1, 3, 5, 10)
    top = torch.stack([torch.randperm(n_items, generator=gen)[:10] for _ in range(n_users)])
    truths = []
    for u in range(n_users):
        size = int(torch.randint(0, 8, (1,), generator=gen))  # 0: excluded user; < K: fewer test items than K
        truths.append(set(torch.randperm(n_items, generator=gen)[:size].tolist()))
    hits = torch.tensor([[int(i) in truths[u] for i in top[u]] for u in range(n_users)])
    n_true = torch.tensor([len(t) for t in truths])
    pop = torch.randint(0, 50, (n_items,), generator=gen)
    metric = RankingMetrics(ks, n_items, popularity=pop, n_users=100)
    for chunk in range(0, n_users, 7):  # streamed in uneven batches
        sl = slice(chunk, chunk + 7)
        metric.update(top[sl], hits[sl], n_true[sl])
    out = metric.compute()
    users = [u for u in range(n_users) if truths[u]]
    assert out["n_users"] == len(users)
    for k in ks:
        rows = [naive(top[u].tolist(), truths[u], k) for u in users]
        for name in ("recall", "precision", "hit", "ndcg", "mrr", "map"):
            expected = sum(r[name] for r in rows) / len(rows)
            assert out[f"{name}@{k}"] == pytest.approx(expected, abs=1e-12), (name, k)
        recommended = [int(i) for u in users for i in top[u, :k]]
        assert out[f"coverage@{k}"] == pytest.approx(len(set(recommended)) / n_items)
        assert out[f"avgpop@{k}"] == pytest.approx(sum(int(pop[i]) for i in recommended) / len(recommended))
        novelty = [-math.log2(max(int(pop[i]), 1) / 100) for i in recommended]
        assert out[f"novelty@{k}"] == pytest.approx(sum(novelty) / len(novelty))
        counts = torch.bincount(torch.tensor(recommended), minlength=n_items)
        assert out[f"gini@{k}"] == pytest.approx(naive_gini(counts.tolist()))
    assert all(isinstance(v, float) for v in out.values())


def naive_gini(x):
    n, mean = len(x), sum(x) / len(x)
    return sum(abs(a - b) for a in x for b in x) / (2 * n * n * mean)


def test_gini_extremes():
    assert gini(torch.tensor([3, 3, 3, 3])) == pytest.approx(0.0)
    assert gini(torch.tensor([0, 0, 0, 8])) == pytest.approx(0.75)  # (n - 1) / n for one item taking all
    assert gini(torch.zeros(5)) == 0.0


def test_update_needs_enough_columns():
    metric = RankingMetrics([5], 10)
    with pytest.raises(Exception, match="top 5"):
        metric.update(torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 3, dtype=torch.bool), torch.ones(2))


def _naive_kg(lists, neighbours, ks):
    """ILD and KG coverage by the definitions, one user and one pair at a time."""
    out = {}
    all_neighbours = set().union(*neighbours)
    for k in ks:
        per_user = []
        reached = set()
        for items in lists:
            top = items[:k]
            for i in top:
                reached |= neighbours[i]
            dists = []
            for a in range(len(top)):
                for b in range(a + 1, len(top)):
                    ea, eb = neighbours[top[a]], neighbours[top[b]]
                    if ea | eb:
                        dists.append(1 - len(ea & eb) / len(ea | eb))
            if dists:
                per_user.append(sum(dists) / len(dists))
        out[f"ild@{k}"] = sum(per_user) / max(len(per_user), 1)
        out[f"kg_coverage@{k}"] = len(reached) / len(all_neighbours)
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kg_diversity_matches_a_naive_loop(seed):
    gen = torch.Generator().manual_seed(seed)
    n_items, n_users, ks = 30, 25, (3, 7)
    neighbours = []
    for i in range(n_items):
        size = int(torch.randint(0, 4, (1,), generator=gen))  # some items have no KG neighbour at all
        neighbours.append({int(e) for e in torch.randint(100, 112, (size,), generator=gen)})
    indptr = torch.tensor([0] + [len(n) for n in neighbours]).cumsum(0)
    # an item's neighbour listed twice (two relations to one entity) counts once, as in the sets
    flat = torch.tensor([e for n in neighbours for e in sorted(n) + sorted(n)[:1]], dtype=torch.long)
    indptr = torch.tensor([0] + [len(n) + (1 if n else 0) for n in neighbours]).cumsum(0)
    top = torch.stack([torch.randperm(n_items, generator=gen)[:7] for _ in range(n_users)])
    hits = torch.zeros(n_users, 7, dtype=torch.bool)
    m = RankingMetrics(ks, n_items, popularity=torch.ones(n_items), n_users=n_users, item_entities=(indptr, flat))
    m.update(top[:10], hits[:10], torch.ones(10, dtype=torch.long))
    m.update(top[10:], hits[10:], torch.ones(n_users - 10, dtype=torch.long))
    got = m.compute()
    for name, value in _naive_kg(top.tolist(), neighbours, ks).items():
        assert got[name] == pytest.approx(value, abs=1e-9), name


def test_kg_diversity_extremes():
    # items 0-3 share one genre, items 4-7 each have their own: one list is uniform, the other as diverse as it gets
    neighbours = [[50]] * 4 + [[60], [61], [62], [63]]
    indptr = torch.tensor([0] + [len(n) for n in neighbours]).cumsum(0)
    flat = torch.tensor([e for n in neighbours for e in n])
    m = RankingMetrics([4], 8, popularity=torch.ones(8), n_users=2, item_entities=(indptr, flat))
    m.update(torch.tensor([[0, 1, 2, 3]]), torch.zeros(1, 4, dtype=torch.bool), torch.tensor([1]))
    assert m.compute()["ild@4"] == 0.0 and m.compute()["kg_coverage@4"] == pytest.approx(1 / 5)
    m.update(torch.tensor([[4, 5, 6, 7]]), torch.zeros(1, 4, dtype=torch.bool), torch.tensor([1]))
    assert m.compute()["ild@4"] == pytest.approx(0.5) and m.compute()["kg_coverage@4"] == 1.0
