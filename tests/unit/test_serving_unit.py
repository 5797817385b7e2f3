"""Write-back and serving without a database: names, the MIPS augmentation, statement choice and messages."""

from __future__ import annotations

import re

import pytest
import torch

from graphrec import recommend as rec
from graphrec.db import cypher
from graphrec.db.dialect import Dialect, VectorIndex
from graphrec.db.names import checked
from graphrec.errors import ConfigError, GraphrecError, NotFoundError
from graphrec.export import IdMaps
from graphrec.mapping import DEFAULT
from graphrec.publish import IndexOptions, RunProperties, augment, check_embeddings, create_index, publish
from graphrec.runs import save_run


def test_run_properties_are_safe_identifiers_even_for_long_ids():
    props = RunProperties.of("lightgcn-20250101-120000-ab12")
    assert (props.user, props.item, props.mips) == ("graphrec_emb_lightgcn_20250101_120000_ab12",) * 2 + (
        "graphrec_mips_lightgcn_20250101_120000_ab12",)
    long_a, long_b = RunProperties.of("x" * 64), RunProperties.of("x" * 63 + "y")
    assert len(long_a.mips) <= 64 and long_a.mips != long_b.mips


def test_index_names_from_the_longest_run_ids_stay_within_64_characters():
    assert RunProperties.of("lightgcn-20250101-120000-ab12").index == "graphrec_mips_lightgcn_20250101_120000_ab12"
    # The longest run id graphrec makes (graphrec.runs.RUN_ID: 64 characters) would give 78 with the prefix.
    # Ids that differ past the cut, or only in a character the name replaces by _, still get distinct names.
    names = {RunProperties.of(run_id).index for run_id in ("a" * 63 + "b", "a" * 63 + "c", "a-" * 32, "a_" * 32)}
    assert len(names) == 4
    for name in names:
        assert len(name) <= 64 and checked(name) == name and name.startswith("graphrec_mips_a")


IDS = {"user": ["u0", "u1", "u2"], "item": ["i0", "i1", "i2", "i3"]}


def _valid():
    gen = torch.Generator().manual_seed(0)
    return torch.randn(3, 4, generator=gen), torch.randn(4, 4, generator=gen)


@pytest.mark.parametrize("kind", ["user", "item"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_embeddings_with_nan_or_inf_are_refused_naming_run_kind_count_and_first_id(kind, value):
    users, items = _valid()
    matrix = users if kind == "user" else items
    matrix[2, 1] = value
    matrix[1, 3] = value
    with pytest.raises(GraphrecError, match=rf"run r-7: 2 {kind} embedding rows hold NaN or infinite values "
                                            rf"\(first: {kind} '{kind[0]}1'\)"):
        check_embeddings("r-7", IDS, users, items)


def test_zero_item_rows_are_refused_and_zero_user_rows_are_left_out():
    users, items = _valid()
    assert check_embeddings("r", IDS, users, items).tolist() == [True, True, True]
    items[3] = 0.0
    with pytest.raises(GraphrecError, match=r"run r: 1 item embedding rows are zero vectors \(first: item 'i3'\)"):
        check_embeddings("r", IDS, users, items)
    users, items = _valid()
    users[1] = 0.0
    users[2, :3] = 0.0   # one non-zero entry is enough for a cosine
    assert check_embeddings("r", IDS, users, items).tolist() == [True, False, True]
    users[:] = 0.0
    with pytest.raises(GraphrecError, match=r"run r: all 3 user embedding rows are zero vectors"):
        check_embeddings("r", IDS, users, items)


class RecordingGraph:
    """Records the statements publish runs; answers writes with one row."""

    def __init__(self, version=(5, 26, 30)):
        self.dialect, self.calls = Dialect("Neo4j/" + ".".join(map(str, version)), version), []

    def apply_schema(self):
        self.calls.append(("schema", {}))

    def write(self, name, identifiers=None, **params):
        self.calls.append((name, params))
        return [{"id": "r"}]


def test_a_refused_run_writes_nothing(tmp_path):
    users, items = _valid()
    items[0, 0] = float("nan")
    run = save_run(tmp_path, {"id": "broken-run", "model": "mf"}, IdMaps(dict(IDS)), {"user": users, "item": items})
    graph = RecordingGraph()
    with pytest.raises(GraphrecError, match="run broken-run: 1 item embedding rows hold NaN"):
        publish(graph, run)
    assert graph.calls == []


def test_index_options_reach_the_statement_as_parameters_and_are_checked():
    graph = RecordingGraph()
    index = VectorIndex("graphrec_mips_r", "mips_r", 1)
    create_index(graph, index, 65, IndexOptions(quantization=False, m=32, ef_construction=200))
    name, params = graph.calls[0]
    assert name == "publish.create_vector_index"
    assert params == {"dimensions": 65, "quantization": False, "m": 32, "ef_construction": 200}
    assert graph.calls[1][0] == "publish.await_index"
    for key in ("$quantization", "$m", "$ef_construction", "$dimensions"):
        assert key in cypher.statement("publish.create_vector_index")
    old = RecordingGraph(version=(5, 20, 0))   # no HNSW settings before 5.23
    create_index(old, index, 65, IndexOptions())
    assert old.calls[0] == ("publish.create_vector_index_5_18", {"dimensions": 65})
    for bad in (dict(m=0), dict(m=513), dict(ef_construction=3201), dict(m=16.0), dict(quantization="yes")):
        with pytest.raises(ConfigError, match="IndexOptions"):
            IndexOptions(**bad)


def test_every_cosine_in_the_serving_statements_is_guarded():
    """Neo4j's cosine throws on a zero, NaN or infinite vector: every statement that calls it must drop such query
    vectors (0 < norm < Infinity) and such stored vectors (a non-zero entry) first."""
    text = (cypher.cypher_dir() / "recommend.cypher").read_text()
    guarded = 0
    for name in cypher.names():
        if not name.startswith("recommend."):
            continue
        body = cypher.statement(name)
        calls = re.findall(r"vector\.similarity\.cosine\((\w+), (\w+)\)", body)
        for query, stored in calls:
            assert stored == "iv" and "any(c IN iv WHERE c <> 0.0)" in body, name
            assert "< toFloat('Infinity')" in body, name
            guarded += 1
        if "queryNodes" in body:
            assert body.index("< toFloat('Infinity')") < body.index("queryNodes"), name
    assert guarded == 5 and text.count("vector.similarity.cosine(") >= 5


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

    mapping = DEFAULT

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
    assert graph.calls[0][0] == "recommend.serving_run"  # which run, and whether it serves by the walk
    name, params = graph.calls[1]
    assert name == "recommend.for_user_index" and params["user"] == "u'1" and params["fetch"] == 100
    assert params["entities"] == ["Rock"] and params["exclude"] is None and params["seen_splits"] is None
    assert [rec.default_fetch(k) for k in (1, 20, 50)] == [100, 100, 250]
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
    assert [c[0] for c in graph.calls] == ["recommend.serving_run", "recommend.for_user_index",
                                           "recommend.cold_start_for_user", "recommend.status"]
    graph = FakeGraph({"recommend.status": _status(user_embedded=False, user_items=0)})
    with pytest.raises(NotFoundError, match="no interactions or friends"):
        rec.recommend(graph, "u1")
    graph = FakeGraph({"recommend.status": _status()})
    with pytest.raises(NotFoundError, match="unknown item"):
        rec.similar(graph, "nope")


def test_a_graph_filter_run_is_served_by_the_walk():
    row = {"item": "i1", "score": 1.0, "run": "r1"}
    graph = FakeGraph({"recommend.serving_run": [{"id": "r1", "walk": True, "items": 41}],
                       "recommend.walk_for_user": [row]})
    assert rec.recommend(graph, "u1", 5, path="exact")[0]["item"] == "i1"
    name, params = graph.calls[1]
    assert name == "recommend.walk_for_user" and params["fetch"] == 41 and params["walk_splits"] is None
    rec.recommend(graph, "u1", 5, walk_splits=["train"])
    assert graph.calls[-1][1]["fetch"] == 100 and graph.calls[-1][1]["walk_splits"] == ["train"]


@pytest.mark.parametrize("walk, similar, path, statement", [
    (True, 100, "index", "recommend.similar_walk_for_user"),   # GF-CF: its stored rows, fast
    (True, 100, "exact", "recommend.walk_for_user"),           # ... or every path walked now
    (True, None, "index", "recommend.walk_for_user"),          # published with --similar 0
    (False, 200, "index", "recommend.similar_walk_for_user"),  # ItemKNN, EASE^R: S is only in its stored rows
    (False, 200, "exact", "recommend.similar_walk_for_user"),
])
def test_a_closed_form_run_is_served_from_its_stored_rows_or_its_walk(walk, similar, path, statement):
    row = {"item": "i1", "score": 1.0, "run": "r1"}
    graph = FakeGraph({"recommend.serving_run": [{"id": "r1", "walk": walk, "similar": similar, "items": 41}],
                       statement: [row]})
    assert rec.recommend(graph, "u1", 5, path=path) == [row]
    assert graph.calls[1][0] == statement


def test_similar_items_of_a_run_without_embeddings_are_its_stored_row():
    row = {"item": "i2", "score": 0.5, "run": "r1"}
    graph = FakeGraph({"recommend.serving_run": [{"id": "r1", "walk": False, "similar": 100, "dim": 0}],
                       "recommend.similar_stored_items": [row]})
    assert rec.similar(graph, "i1") == [row]
