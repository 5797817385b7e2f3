"""attention_paths on a trained KGAT, checked against a naive enumeration of every simple path."""

import pytest
import torch

from graphrec.errors import ModelError
from graphrec.explain_model import AttentionPath, attention_paths, node_type
from graphrec.models import build
from tests.unit.models.test_contract import N, checkerboard, trained


@pytest.fixture(scope="module")
def model():
    return trained("kgat", checkerboard(), epochs=40)


def naive_paths(model, user: int, item: int, max_hops: int, kg_only: bool) -> list[tuple[float, tuple, tuple]]:
    """Every path without repeated nodes, by depth-first search over the CKG's triples one at a time."""
    out = {}
    for h, r, t, a in zip(model.ckg_head.tolist(), model.ckg_relation.tolist(), model.ckg_tail.tolist(),
                          model.attention.tolist()):
        out.setdefault(h, []).append((r, t, a))
    target, found = model.n_users + item, []

    def walk(nodes, relations, score):
        if nodes[-1] == target:
            if not kg_only or any(r % len(model.base_names) for r in relations):
                found.append((score, tuple(nodes), tuple(relations)))
            return
        if len(relations) == max_hops:
            return
        for r, t, a in out[nodes[-1]]:
            if t not in nodes:
                walk(nodes + [t], relations + [r], score * a)

    walk([user], [], 1.0)
    return sorted(found, key=lambda f: -f[0])


@pytest.mark.parametrize("user, item, max_hops, kg_only", [(0, 0, 3, True), (7, 7, 3, False), (5, 1, 3, False),
                                                            (5, 1, 1, False)])
def test_attention_paths_are_the_naive_top_k(model, user, item, max_hops, kg_only):
    expected = naive_paths(model, user, item, max_hops, kg_only)
    paths = attention_paths(model, user, item, k=4, max_hops=max_hops, kg_only=kg_only)
    assert len(paths) == min(4, len(expected)) > 0
    assert [p.score for p in paths] == pytest.approx([e[0] for e in expected[:4]], rel=1e-5)
    assert sorted(p.nodes for p in paths) == sorted(e[1] for e in expected[:4])
    for p in paths:
        assert p.nodes[0] == user and p.nodes[-1] == N + item and len(p.relations) == len(p.nodes) - 1


@pytest.mark.parametrize("user, item, max_hops", [(3, 9, 3), (3, 3, 2)])
def test_no_path_within_max_hops_gives_none(model, user, item, max_hops):
    # The blocks meet only through the entity-entity fact (4+ hops); no item-item facts make 2-hop paths.
    assert naive_paths(model, user, item, max_hops, False) == []
    assert attention_paths(model, user, item, max_hops=max_hops, kg_only=False) == []


def test_kg_paths_go_through_the_items_genre(model):
    # User 0's held-out item 0 shares entity "a" (node 24) with every item user 0 interacted with.
    paths = attention_paths(model, 0, 0, k=3)
    for p in paths:
        assert len(p.nodes) == 4 and p.nodes[2] == 2 * N and N + 1 <= p.nodes[1] < N + 6
        assert p.relations == ("interact", "genre", "genre") and p.inverse == (False, False, True)
    names = {0: "u0", N + 1: "i1", 2 * N: "a", N: "i0"}
    text = AttentionPath(0.5, (0, N + 1, 2 * N, N), ("interact", "genre", "genre"), (False, False, True))
    assert text.describe(names.get) == "u0 -[interact]-> i1 -[genre]-> a <-[genre]- i0"


def test_node_types(model):
    assert [node_type(model, n) for n in (0, N - 1, N, 2 * N - 1, 2 * N, 2 * N + 1)] == [
        ("user", 0), ("user", N - 1), ("item", 0), ("item", N - 1), ("entity", 0), ("entity", 1)]


def test_attention_paths_needs_a_kgat_and_rows_in_range(model):
    data = checkerboard()
    with pytest.raises(ModelError, match="needs a KGAT model, got LightGCN"):
        attention_paths(build("lightgcn", N, N, graph=torch.stack(data.train.pairs())), 0, 0)
    with pytest.raises(ModelError, match="item 12 out of range"):
        attention_paths(model, 0, N)
    with pytest.raises(ModelError, match="max_hops must be 1, 2 or 3, got 4"):
        attention_paths(model, 0, 0, max_hops=4)
