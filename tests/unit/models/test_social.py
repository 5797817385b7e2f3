"""Each social recommender's distinctive piece does what its paper says, against hand computations on tiny graphs."""

import itertools
import math

import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from graphrec.models import build
from graphrec.models.losses import info_nce_multi
from graphrec.models.mhcn import hierarchical_mi_loss, motif_adjacencies
from graphrec.models.social import SparseOperator, social_matrix
from graphrec.sidegraphs import SideGraphs
from tests.unit.conftest import random_pairs

NU, NI = 8, 10

# MHCN's social motifs M1-M7 (Benson et al. 2016's triangle motifs) as directed edges on nodes 0, 1, 2.
MUTUAL = lambda a, b: [(a, b), (b, a)]  # noqa: E731
SOCIAL_MOTIFS = {
    "M1": [(0, 1), (1, 2), (2, 0)],  # one-way cycle
    "M2": MUTUAL(0, 1) + [(1, 2), (2, 0)],  # one mutual tie, the other two one-way around the triangle
    "M3": MUTUAL(0, 1) + MUTUAL(1, 2) + [(0, 2)],
    "M4": MUTUAL(0, 1) + MUTUAL(1, 2) + MUTUAL(2, 0),
    "M5": [(0, 1), (1, 2), (0, 2)],  # feed-forward
    "M6": MUTUAL(0, 1) + [(2, 0), (2, 1)],  # a third user points at a mutual pair
    "M7": MUTUAL(0, 1) + [(0, 2), (1, 2)],  # a mutual pair points at a third user
}


def directed_social(seed: int = 3) -> torch.Tensor:
    """A random directed follow graph on NU users with one-way and mutual ties (and a self-loop, to be ignored)."""
    gen = torch.Generator().manual_seed(seed)
    edges = [(u, v) for u in range(NU) for v in range(NU) if u != v and torch.rand(1, generator=gen) < 0.45]
    return torch.tensor(edges + [(3, 3)]).t()


def side(social: torch.Tensor) -> SideGraphs:
    return SideGraphs(NU, NI, 0, social)


def which_motif(edges: set, triple) -> str | None:
    """The motif the triple's induced directed subgraph is isomorphic to, if any."""
    for name, motif in SOCIAL_MOTIFS.items():
        for perm in itertools.permutations(triple):
            if {(perm[a], perm[b]) for a, b in motif} == edges:
                return name
    return None


def test_sparse_operator_matches_the_dense_product_and_its_gradient():
    matrix = torch.tensor([[0.0, 2.0, 0.0], [1.0, 0.0, 3.0]])
    op = SparseOperator(sp.csr_matrix(matrix.numpy()))
    x = torch.randn(3, 4, requires_grad=True)
    weights = torch.randn(2, 4)
    (op(x) * weights).sum().backward()
    x2 = x.detach().clone().requires_grad_()
    (matrix @ x2 * weights).sum().backward()
    assert torch.allclose(op(x), matrix @ x) and torch.allclose(x.grad, x2.grad)


def test_mhcn_motif_adjacencies_equal_a_brute_force_count_of_the_motif_instances():
    social, pairs = directed_social(), random_pairs(NU, NI, 30, seed=4)
    a_social, a_joint, a_purchase = (torch.tensor(m.toarray()) for m in motif_adjacencies(social, pairs, NU, NI))
    follows = {(int(u), int(v)) for u, v in social.t() if u != v}
    tied = lambda u, v: (u, v) in follows or (v, u) in follows  # noqa: E731
    items = [{int(i) for u2, i in pairs.t() if int(u2) == u} for u in range(NU)]
    social_count, joint_count, purchase_count = (torch.zeros(NU, NU) for _ in range(3))
    seen = set()
    for triple in itertools.combinations(range(NU), 3):
        name = which_motif({e for e in follows if e[0] in triple and e[1] in triple}, triple)
        if name is not None:
            seen.add(name)
            for u, v in itertools.permutations(triple, 2):
                social_count[u, v] += 1
        elif all(tied(u, v) for u, v in itertools.combinations(triple, 2)):
            pytest.fail(f"users {triple} are all tied but match none of M1-M7")
    for u, v in itertools.permutations(range(NU), 2):
        shared = len(items[u] & items[v])
        (joint_count if tied(u, v) else purchase_count)[u, v] = shared  # M8/M9 when tied, M10 when not
    assert seen == set(SOCIAL_MOTIFS), f"the test graph should hold every social motif, has {sorted(seen)}"
    assert torch.equal(a_social, social_count)
    assert torch.equal(a_joint, joint_count) and torch.equal(a_purchase, purchase_count)
    assert a_joint.sum() > 0 and a_purchase.sum() > 0


def test_mhcn_purchase_threshold_keeps_pairs_sharing_enough_items():
    # Users 0 and 1 share items 0 and 1, users 1 and 2 share item 2; users 2 and 3 share item 3 but are tied.
    pairs = torch.tensor([[0, 0, 1, 1, 1, 2, 2, 3], [0, 1, 0, 1, 2, 2, 3, 3]])
    social = torch.tensor([[2], [3]])
    every = torch.tensor(motif_adjacencies(social, pairs, 4, 4)[2].toarray())
    assert every.tolist() == [[0, 2, 0, 0], [2, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]]
    two = torch.tensor(motif_adjacencies(social, pairs, 4, 4, min_shared=2)[2].toarray())
    assert two.tolist() == [[0, 2, 0, 0], [2, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]


def test_mhcn_convolves_each_channel_with_its_row_normalised_motif_adjacency():
    social, pairs = directed_social(), random_pairs(NU, NI, 30, seed=4)
    model = build("mhcn", NU, NI, graph=pairs, side=side(social), seed=0, dim=4)
    # The model reads ties as undirected, which leaves the counts above unchanged (only whether u, v are tied counts).
    for op, counts in zip(model.hypergraphs, motif_adjacencies(SideGraphs(NU, NI, 0, social).social_undirected(),
                                                             pairs, NU, NI)):
        counts = torch.tensor(counts.toarray())
        rows = counts.sum(1, keepdim=True)
        assert torch.allclose(op.to_dense(), torch.where(rows > 0, counts / rows.clamp(min=1), 0.0))


def test_hierarchical_mi_loss_equals_its_definition():
    gen = torch.Generator().manual_seed(0)
    p, z = torch.randn(5, 3, generator=gen), torch.randn(5, 3, generator=gen)
    row_perm, col_perm = torch.tensor([2, 0, 4, 1, 3]), torch.tensor([1, 2, 0])
    corrupted = [[float(z[row_perm[u], col_perm[d]]) for d in range(3)] for u in range(5)]
    h = [sum(float(z[u, d]) for u in range(5)) / 5 for d in range(3)]
    dot = lambda a, b: sum(float(x) * float(y) for x, y in zip(a, b))  # noqa: E731
    log_sigmoid = lambda x: -math.log1p(math.exp(-x))  # noqa: E731
    expected = -sum(log_sigmoid(dot(p[u], z[u]) - dot(p[u], corrupted[u])) +
                    log_sigmoid(dot(z[u], h) - dot(corrupted[u], h)) for u in range(5))
    assert hierarchical_mi_loss(p, z, row_perm, col_perm).item() == pytest.approx(expected, rel=1e-5)
    # No corruption: every ranking is a tie, -log σ(0) = log 2 for both terms of every user.
    same = torch.arange(5), torch.arange(3)
    assert hierarchical_mi_loss(p, z, *same).item() == pytest.approx(2 * 5 * math.log(2), rel=1e-6)
    # Maximising agreement: the loss falls when each user's embedding is its sub-hypergraph's.
    assert hierarchical_mi_loss(z * 3, z, row_perm, col_perm) < hierarchical_mi_loss(-z * 3, z, row_perm, col_perm)


def test_mhcn_loss_adds_the_three_channels_mi_terms_on_the_ssl_gated_user_embeddings():
    social, pairs = directed_social(), random_pairs(NU, NI, 30, seed=4)
    model = build("mhcn", NU, NI, graph=pairs, side=side(social), seed=0, dim=4, ssl_reg=0.5)
    batch = torch.tensor([0, 3]), torch.tensor([1, 2]), torch.tensor([9, 0])
    torch.manual_seed(7)
    total = model.loss(batch)
    without = build("mhcn", NU, NI, graph=pairs, side=side(social), seed=0, dim=4, ssl_reg=0.0).loss(batch)
    torch.manual_seed(7)
    user_emb, _ = model()
    expected = 0.0
    for gate, hypergraph in zip(model.ssl_gates, model.hypergraphs):
        p = gate(user_emb)
        perms = torch.randperm(NU), torch.randperm(4)
        expected = expected + hierarchical_mi_loss(p, hypergraph.to_dense() @ p, *perms)
    assert total.item() == pytest.approx(without.item() + 0.5 * expected.item(), rel=1e-5)


def test_diffnet_diffusion_layer_is_a_dense_layer_over_the_friends_mean_and_the_user():
    social, pairs = directed_social(), random_pairs(NU, NI, 30, seed=4)
    model = build("diffnet", NU, NI, graph=pairs, side=side(social), seed=0, dim=3, num_layers=2)
    friends = [set() for _ in range(NU)]
    for u, v in social.t().tolist():
        if u != v:
            friends[u].add(v)
            friends[v].add(u)  # ties are undirected
    consumed = [[i for u2, i in pairs.t().tolist() if u2 == u] for u in range(NU)]
    h = model.user.weight.detach()
    layers = [h]
    for k in range(2):
        pooled = torch.stack([h[sorted(f)].mean(0) if f else torch.zeros(3) for f in friends])
        layer = model.diffusion[k]
        h = torch.sigmoid(torch.cat([pooled, h], 1) @ layer.weight.detach().t() + layer.bias.detach())
        layers.append(h)
        assert torch.allclose(model.diffuse(layers[-2], k).detach(), h, atol=1e-6)
    q = model.item.weight.detach()
    items_mean = torch.stack([q[c].mean(0) if c else torch.zeros(3) for c in consumed])
    user_emb, item_emb = model()
    assert torch.allclose(user_emb.detach(), layers[-1] + items_mean, atol=1e-6)  # u = h^K + mean of items
    assert torch.equal(item_emb, model.item.weight)


def test_diffnet_without_transform_is_recbole_gnns_linear_diffusion_with_the_layer_sum():
    social, pairs = directed_social(), random_pairs(NU, NI, 30, seed=4)
    model = build("diffnet", NU, NI, graph=pairs, side=side(social), seed=0, dim=3, num_layers=2, transform=False)
    s = torch.tensor(social_matrix(SideGraphs(NU, NI, 0, social).social_undirected(), NU).toarray())
    s_mean = s / s.sum(1, keepdim=True).clamp(min=1)
    r = torch.zeros(NU, NI)
    r[pairs[0], pairs[1]] = 1.0
    p, q = model.user.weight.detach(), model.item.weight.detach()
    expected = p + s_mean @ p + s_mean @ s_mean @ p + (r / r.sum(1, keepdim=True).clamp(min=1)) @ q
    assert torch.allclose(model()[0].detach(), expected, atol=1e-6) and len(list(model.diffusion)) == 0


def test_info_nce_multi_counts_every_positive_in_the_numerator():
    gen = torch.Generator().manual_seed(1)
    anchor, candidates = torch.randn(3, 4, generator=gen), torch.randn(5, 4, generator=gen)
    positives = torch.tensor([[0, 2], [1, 4], [3, 3]])
    a, c = F.normalize(anchor, dim=1), F.normalize(candidates, dim=1)
    expected = 0.0
    for i in range(3):
        scores = [math.exp(float(a[i] @ c[j]) / 0.1) for j in range(5)]
        expected -= math.log(sum(scores[j] for j in positives[i].tolist()) / sum(scores))
    assert info_nce_multi(anchor, candidates, positives, 0.1).item() == pytest.approx(expected, rel=1e-5)


def test_sept_views_are_the_papers_friend_and_sharing_graphs():
    social, pairs = directed_social(), random_pairs(NU, NI, 30, seed=4)
    model = build("sept", NU, NI, graph=pairs, side=side(social), seed=0, dim=4)
    s = torch.tensor(social_matrix(SideGraphs(NU, NI, 0, social).social_undirected(), NU).toarray())
    r = torch.zeros(NU, NI)
    r[pairs[0], pairs[1]] = 1.0

    def sym(m):
        d = m.sum(1).pow(-0.5)
        return d[:, None] * m * d[None, :]

    assert torch.allclose(model.friend_view.to_dense(), sym(s @ s * s + torch.eye(NU)), atol=1e-6)
    assert torch.allclose(model.sharing_view.to_dense(), sym(r @ r.t() * s + torch.eye(NU)), atol=1e-6)


def test_sept_unlabeled_graph_drops_edges_whole_and_ssl_waits_for_the_warm_up():
    social, pairs = directed_social(), random_pairs(NU, NI, 30, seed=4)
    model = build("sept", NU, NI, graph=pairs, side=side(social), seed=0, dim=4, warm_up_epochs=2, ssl_weight=1.0)
    joint = torch.tensor(model.perturbed_joint_graph(torch.Generator().manual_seed(0)).toarray())
    assert torch.allclose(joint, joint.t())
    n_ties = model.ties.size(1)
    kept = (joint > 0).sum().item() // 2
    assert kept == int(pairs.size(1) * 0.7) + int(n_ties * 0.7)
    batch = torch.tensor([0, 3, 3]), torch.tensor([1, 2, 2]), torch.tensor([9, 0, 0])
    for epoch in range(1, 4):
        model.on_epoch_start(torch.Generator().manual_seed(epoch))
        assert model.ssl_active == (epoch > 2) and (model.unlabeled is not None) == (epoch > 2)
    # Past the warm-up the loss adds the tri-training term, computed on the batch's distinct users.
    rec_only = build("sept", NU, NI, graph=pairs, side=side(social), seed=0, dim=4, ssl_weight=0.0).loss(batch)
    users = torch.tensor([0, 3])
    ssl = model.ssl_loss(users, model()[0])
    assert model.loss(batch).item() == pytest.approx(rec_only.item() + ssl.item(), rel=1e-5)


def test_sept_pseudo_labels_come_from_the_other_two_views():
    social, pairs = directed_social(), random_pairs(NU, NI, 30, seed=4)
    model = build("sept", NU, NI, graph=pairs, side=side(social), seed=0, dim=4, instance_cnt=2,
                  warm_up_epochs=0, ssl_weight=1.0)
    model.on_epoch_start(torch.Generator().manual_seed(0))
    users = torch.arange(NU)
    x = model.user.weight
    unlabeled = model.encode(model.unlabeled, torch.cat([x, model.item.weight]))[users]
    views = [model.encode(model.friend_view, x), model.encode(model.sharing_view, x), model()[0]]
    probs = [torch.softmax(F.normalize(v, dim=1) @ F.normalize(unlabeled, dim=1).t(), 1) for v in views]
    expected = sum(info_nce_multi(views[i], unlabeled, torch.topk((probs[j] + probs[k]) / 2, 2, dim=1).indices, 0.1)
                   for i, j, k in [(0, 1, 2), (1, 0, 2), (2, 0, 1)])
    assert model.ssl_loss(users, views[2]).item() == pytest.approx(expected.item(), rel=1e-5)
