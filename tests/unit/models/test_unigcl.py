"""UniGCL's distinctive piece: the one normalised graph over users, items and KG entities."""

import pytest
import torch

from graphrec.errors import ModelError
from graphrec.models import build
from graphrec.models.propagation import normalized_adjacency
from graphrec.models.unigcl import unified_adjacency
from graphrec.sidegraphs import SideGraphs

PAIRS = torch.tensor([[0, 0, 1, 2], [0, 1, 1, 2]])  # 3 users x 3 items
# users 0,1 are friends (listed both ways, plus a self-loop that must vanish); item 0 and item 2 share entity 6
SIDE = SideGraphs(3, 3, 1, social=torch.tensor([[0, 1, 1], [1, 0, 1]]),
                  kg=torch.tensor([[3, 5, 5], [0, 0, 1], [6, 6, 6]]), relation_names=("genre", "style"))


def dense(adj):
    return adj.to_dense()


def test_the_unified_graph_weights_each_source_and_normalises_symmetrically():
    adj, n = unified_adjacency(PAIRS, SIDE, 3, 3, social_weight=0.5, kg_weight=2.0)
    a = dense(adj)
    assert n == 7 and torch.allclose(a, a.t())
    w = torch.zeros(7, 7)
    for u, i in PAIRS.t().tolist():
        w[u, 3 + i] = w[3 + i, u] = 1.0
    w[0, 1] = w[1, 0] = 0.5
    # item 2 (node 5) has two relations to entity 6: relation names are collapsed into one undirected edge
    w[3, 6] = w[6, 3] = w[5, 6] = w[6, 5] = 2.0
    d = w.sum(1).pow(-0.5)
    assert torch.allclose(a, d[:, None] * w * d[None, :])


def test_without_side_graphs_it_is_lightgcns_adjacency_plus_empty_entity_rows():
    adj, n = unified_adjacency(PAIRS, SIDE, 3, 3, social_weight=0.0, kg_weight=0.0)
    lightgcn = dense(normalized_adjacency(PAIRS[0], PAIRS[1], 3, 3))
    assert n == 7 and torch.allclose(dense(adj)[:6, :6], lightgcn) and not dense(adj)[6].any()
    assert torch.equal(dense(unified_adjacency(PAIRS, None, 3, 3, 0.5, 0.5)[0]), lightgcn)


def test_friends_and_kg_neighbours_move_embeddings():
    """One propagation step: user 2 (no friends) is untouched by the social weight, user 0 is not."""
    def embeddings(social_weight):
        model = build("unigcl", 3, 3, graph=PAIRS, side=SIDE, seed=0, dim=4, social_weight=social_weight)
        with torch.no_grad():
            return model()
    (u0, _), (u1, _) = embeddings(0.0), embeddings(1.0)
    assert not torch.allclose(u0[0], u1[0]) and torch.allclose(u0[2], u1[2])


def test_bad_weights_are_refused():
    with pytest.raises(ModelError, match="social_weight and kg_weight must be >= 0"):
        build("unigcl", 3, 3, graph=PAIRS, side=SIDE, kg_weight=-1.0)
    with pytest.raises(ModelError, match="cl_layer must be in 1..num_layers=2"):
        build("unigcl", 3, 3, graph=PAIRS, side=SIDE, cl_layer=3)
