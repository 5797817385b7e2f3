"""The shared augmentations and losses of the self-supervised models, against their definitions."""

import math

import pytest
import torch
import torch.nn.functional as F

from graphrec.errors import ModelError
from graphrec.models.augment import edge_dropout, node_dropout, sgl_views, uniform_noise
from graphrec.models.losses import alignment, info_nce_all, info_nce_nodes, uniformity
from graphrec.models.propagation import normalized_adjacency, propagate_layers
from tests.unit.conftest import random_pairs

N_USERS, N_ITEMS = 30, 40


def pairs():
    return random_pairs(N_USERS, N_ITEMS, 400, seed=1)


def edges_of(adj):
    """The (user, item) edges stored in a bipartite Â, as a set."""
    dense = adj.to_dense()
    rows, cols = torch.nonzero(dense[:N_USERS, N_USERS:], as_tuple=True)
    return set(zip(rows.tolist(), cols.tolist()))


def test_uniform_noise_has_norm_eps_and_keeps_every_coordinates_sign():
    x = torch.randn(50, 8)
    noise = uniform_noise(x, eps=0.1, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(noise.norm(dim=1), torch.full((50,), 0.1))
    assert torch.equal(torch.sign(noise), torch.sign(x))
    assert torch.equal(noise, uniform_noise(x, eps=0.1, generator=torch.Generator().manual_seed(0)))
    assert not torch.equal(noise, uniform_noise(x, eps=0.1, generator=torch.Generator().manual_seed(1)))


def test_edge_dropout_keeps_1_minus_rho_of_the_edges_symmetric_and_renormalised():
    p = pairs()
    adj = edge_dropout(p, N_USERS, N_ITEMS, 0.2, torch.Generator().manual_seed(0))
    kept = edges_of(adj)
    assert len(kept) == int(p.size(1) * 0.8)
    assert kept <= set(zip(p[0].tolist(), p[1].tolist()))
    dense = adj.to_dense()
    assert torch.allclose(dense, dense.t())
    # Re-normalised with the view's own degrees: Â_ui = 1 / sqrt(d'_u d'_i).
    kept_pairs = torch.tensor(sorted(kept)).t()
    du = torch.bincount(kept_pairs[0], minlength=N_USERS).float()
    di = torch.bincount(kept_pairs[1], minlength=N_ITEMS).float()
    expected = 1 / (du[kept_pairs[0]] * di[kept_pairs[1]]).sqrt()
    assert torch.allclose(dense[kept_pairs[0], kept_pairs[1] + N_USERS], expected)
    again = edge_dropout(p, N_USERS, N_ITEMS, 0.2, torch.Generator().manual_seed(0))
    assert torch.equal(again.to_dense(), dense)


def test_node_dropout_removes_the_dropped_nodes_with_all_their_edges():
    p = pairs()
    adj = node_dropout(p, N_USERS, N_ITEMS, 0.2, torch.Generator().manual_seed(0))
    kept = edges_of(adj)
    kept_users, kept_items = {u for u, _ in kept}, {i for _, i in kept}
    original = set(zip(p[0].tolist(), p[1].tolist()))
    # Every original edge between two surviving nodes survives, and exactly int(n * 0.2) nodes of each type go.
    users_gone = set(range(N_USERS)) - kept_users
    items_gone = set(range(N_ITEMS)) - kept_items
    assert kept == {(u, i) for u, i in original if u not in users_gone and i not in items_gone}
    assert len(users_gone) >= int(N_USERS * 0.2) and len(items_gone) >= int(N_ITEMS * 0.2)


def test_random_walk_views_draw_an_independent_graph_per_layer():
    views = sgl_views("rw", pairs(), N_USERS, N_ITEMS, 0.2, 3, torch.Generator().manual_seed(0))
    assert len(views) == 3 and len({frozenset(edges_of(v)) for v in views}) == 3
    with pytest.raises(ModelError, match="aug_type must be one of 'nd', 'ed', 'rw', got 'xx'"):
        sgl_views("xx", pairs(), N_USERS, N_ITEMS, 0.2, 3)
    with pytest.raises(ModelError, match=r"drop ratio must be in \[0, 1\), got 1.0"):
        edge_dropout(pairs(), N_USERS, N_ITEMS, 1.0)


def test_propagate_layers_gives_each_power_and_takes_one_graph_per_layer():
    p = pairs()
    adj = normalized_adjacency(p[0], p[1], N_USERS, N_ITEMS, dtype=torch.float64)
    x = torch.randn(N_USERS + N_ITEMS, 4, dtype=torch.float64)
    layers = propagate_layers(adj, x, 3)
    dense = adj.to_dense()
    for k, h in enumerate(layers):
        assert torch.allclose(h, torch.linalg.matrix_power(dense, k) @ x)
    other = edge_dropout(p, N_USERS, N_ITEMS, 0.5, torch.Generator().manual_seed(0)).to(torch.float64)
    mixed = propagate_layers([adj, other], x, 2)
    assert torch.allclose(mixed[2], other.to_dense() @ (dense @ x))


def test_info_nce_all_matches_the_per_row_formula():
    a, p, c = torch.randn(5, 3), torch.randn(5, 3), torch.randn(9, 3)
    expected = []
    for i in range(5):
        ai, pi = F.normalize(a[i], dim=0), F.normalize(p[i], dim=0)
        denom = sum(math.exp(float(ai @ F.normalize(cj, dim=0)) / 0.2) for cj in c)
        expected.append(-math.log(math.exp(float(ai @ pi) / 0.2) / denom))
    assert info_nce_all(a, p, c, 0.2).item() == pytest.approx(sum(expected) / 5, rel=1e-5)
    assert info_nce_all(a, p, c, 0.2, reduction="sum").item() == pytest.approx(sum(expected), rel=1e-5)


def test_info_nce_nodes_scores_each_distinct_node_once_with_the_repeated_rows_value_and_gradients():
    g = torch.Generator().manual_seed(1)
    v1, v2, c = (torch.randn(n, 3, generator=g, dtype=torch.float64, requires_grad=True) for n in (6, 6, 8))
    nodes = torch.tensor([4, 1, 4, 0, 4, 1, 5])  # a batch's node ids, with repeats
    for reduction in ("mean", "sum"):
        got = info_nce_nodes(v1, v2, c, nodes, 0.3, reduction)
        want = info_nce_all(v1[nodes], v2[nodes], c, 0.3, reduction)
        assert torch.allclose(got, want)
        for dg, dw in zip(torch.autograd.grad(got, (v1, v2, c)), torch.autograd.grad(want, (v1, v2, c))):
            assert torch.allclose(dg, dw)
    # the weights are counts: a row counted twice is that row listed twice
    a, p = v1[[0, 1]], v2[[0, 1]]
    twice = info_nce_all(a, p, c, 0.3, weights=torch.tensor([2, 1]))
    assert torch.allclose(twice, info_nce_all(v1[[0, 0, 1]], v2[[0, 0, 1]], c, 0.3))


def test_alignment_and_uniformity_on_hand_computed_vectors():
    user = torch.tensor([[3.0, 0.0], [0.0, 2.0]])
    item = torch.tensor([[0.0, 1.0], [0.0, 5.0]])
    # Normalised: u = (1,0),(0,1); i = (0,1),(0,1). Squared distances of the pairs: 2 and 0.
    assert alignment(user, item).item() == pytest.approx(1.0)
    # One pair of distinct users at squared distance 2: log(exp(-2 * 2)) = -4; identical items: log(exp(0)) = 0.
    assert uniformity(user).item() == pytest.approx(-4.0)
    assert uniformity(item).item() == pytest.approx(0.0, abs=1e-6)
    three = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]])  # squared distances 4, 2, 2
    assert uniformity(three).item() == pytest.approx(math.log((math.exp(-8) + 2 * math.exp(-4)) / 3))


def test_info_nce_all_in_blocks_has_the_whole_matrix_value_and_gradients(monkeypatch):
    from graphrec.models.losses import LogSumExpScores

    monkeypatch.setattr(LogSumExpScores, "BLOCK", 4)  # 9 candidates: blocks of 4, 4 and 1
    g = torch.Generator().manual_seed(0)
    a, p, c = (torch.randn(n, 3, generator=g, dtype=torch.float64, requires_grad=True) for n in (5, 5, 9))

    def whole(a, p, c, t):
        a, p, c = (F.normalize(x, dim=1) for x in (a, p, c))
        return (torch.logsumexp(a @ c.t() / t, dim=1) - (a * p).sum(1) / t).sum()

    blocked = info_nce_all(a, p, c, 0.2, reduction="sum")
    assert torch.allclose(blocked, whole(a, p, c, 0.2))
    for got, want in zip(torch.autograd.grad(blocked, (a, p, c)), torch.autograd.grad(whole(a, p, c, 0.2), (a, p, c))):
        assert torch.allclose(got, want)
    # candidates that need no gradient (NCL's prototypes) get none, and the anchors' gradient is unchanged
    fixed = c.detach()
    got = torch.autograd.grad(info_nce_all(a, p, fixed, 0.2, reduction="sum"), a)[0]
    assert torch.allclose(got, torch.autograd.grad(whole(a, p, fixed, 0.2), a)[0])
    assert torch.autograd.gradcheck(LogSumExpScores.apply, (a.detach().requires_grad_(), c.detach().requires_grad_()))
