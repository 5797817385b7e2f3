"""Write-back and serving without a database: names, the MIPS augmentation, statement choice and messages."""

from __future__ import annotations

import pytest
import torch

from graphrec import recommend as rec
from graphrec.db import cypher
from graphrec.errors import ConfigError, NotFoundError
from graphrec.publish import RunProperties, augment


def test_run_properties_are_safe_identifiers_even_for_long_ids():
    props = RunProperties.of("lightgcn-20250101-120000-ab12")
    assert (props.user, props.item, props.mips) == ("emb_lightgcn_20250101_120000_ab12",) * 2 + (
        "mips_lightgcn_20250101_120000_ab12",)
    long_a, long_b = RunProperties.of("x" * 64), RunProperties.of("x" * 63 + "y")
    assert len(long_a.mips) <= 64 and long_a.mips != long_b.mips


def test_augmentation_turns_inner_product_ranking_into_cosine_ranking():
    gen = torch.Generator().manual_seed(0)
    items = torch.randn(500, 8, generator=gen) * torch.rand(500, 1, generator=gen) * 3
    aug, max_norm = augment(items)
    assert aug.shape == (500, 9) and max_norm == pytest.approx(float(items.double().norm(dim=1).max()))
    assert torch.allclose(aug.norm(dim=1), torch.full((500,), max_norm, dtype=torch.float64))
    for _ in range(5):
        q = torch.randn(8, generator=gen).double()
        probe = torch.cat([q, torch.zeros(1, dtype=torch.float64)])
        cos = (aug @ probe) / (aug.norm(dim=1) * probe.norm())
        ip = items.double() @ q
        assert torch.equal(cos.argsort(descending=True)[:50], ip.argsort(descending=True)[:50])
        assert torch.allclose(cos * q.norm() * max_norm, ip)


def test_serving_statements_document_their_parameters():
    for name in ("recommend.for_user", "recommend.for_user_index", "recommend.similar_items",
                 "recommend.cold_start_for_user", "recommend.cold_start_similar_items", "explain.why"):
        assert "MATCH" in cypher.statement(name)
    text = (cypher.cypher_dir() / "recommend.cypher").read_text()
    for param in ("$user", "$k", "$run", "$seen_splits", "$entities", "$exclude", "$fetch", "$item"):
        assert param in text.split("// name:")[0], f"{param} is not documented in the file header"


class FakeGraph:
    """Records which statements ran and answers from a script."""

    def __init__(self, answers: dict[str, list[dict]]):
        self.answers, self.calls = answers, []

    def read(self, name, identifiers=None, **params):
        self.calls.append((name, params))
        return self.answers.get(name, [])


def _status(**over):
    row = dict(run="r1", user_exists=True, user_embedded=True, user_items=3, user_friends=0, item_exists=False,
               item_embedded=False, item_entities=0, item_users=0)
    row.update(over)
    return [row]


def test_recommend_picks_the_path_and_passes_values_as_parameters():
    row = {"item": "i1", "score": 1.0, "run": "r1"}
    graph = FakeGraph({"recommend.for_user_index": [row], "recommend.for_user": [row]})
    rows = rec.recommend(graph, "u'1", 5, entities=["Rock"])
    assert rows[0]["item"] == "i1"
    name, params = graph.calls[0]
    assert name == "recommend.for_user_index" and params["user"] == "u'1" and params["fetch"] == 200
    assert params["entities"] == ["Rock"] and params["exclude"] is None and params["seen_splits"] is None
    rec.recommend(graph, "u1", 30, path="exact")
    assert graph.calls[-1][0] == "recommend.for_user" and "fetch" not in graph.calls[-1][1]
    with pytest.raises(ConfigError):
        rec.recommend(graph, "u1", 0)
    with pytest.raises(ConfigError):
        rec.recommend(graph, "u1", 5, path="fast")


def test_empty_answers_become_reasons():
    graph = FakeGraph({"recommend.status": _status(run=None)})
    with pytest.raises(NotFoundError, match="no run is being served"):
        rec.recommend(graph, "u1")
    graph = FakeGraph({"recommend.status": _status(user_exists=False)})
    with pytest.raises(NotFoundError, match="unknown user 'ghost'"):
        rec.recommend(graph, "ghost")
    assert [c[0] for c in graph.calls] == ["recommend.for_user_index", "recommend.cold_start_for_user",
                                           "recommend.status"]
    graph = FakeGraph({"recommend.status": _status(user_embedded=False, user_items=0)})
    with pytest.raises(NotFoundError, match="no interactions or friends"):
        rec.recommend(graph, "u1")
    graph = FakeGraph({"recommend.status": _status()})
    with pytest.raises(NotFoundError, match="unknown item"):
        rec.similar(graph, "nope")
