"""Ingest against the real server: counts, idempotence, no partial writes, interruption, hostile names."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import loaders
from graphrec.cli import cli
from graphrec.db.connect import Graph
from graphrec.errors import InputError
from graphrec.ingest import ingest, ingest_files
from graphrec.sample import write_sample
from graphrec.stats import graph_stats
from loaders.records import Dataset, Interaction, Node, SocialEdge, Triple


WRITE_PATHS = pytest.mark.parametrize("write_path", ["bulk", "cypher"])


@WRITE_PATHS
def test_sample_graph_counts_and_second_run_changes_nothing(graph: Graph, tmp_path, write_path):
    folder = write_sample(tmp_path / "s", n_users=120, n_items=90, seed=3)
    dataset = loaders.load("csv", folder)
    first = ingest(graph, dataset, batch_edges=500, write_path=write_path)
    assert first.write_path == write_path
    before = graph_stats(graph)
    assert before["users"] == 120 and before["items"] == len({i.item for i in dataset.interactions} |
                                                              {t.head for t in dataset.triples})
    assert before["interactions"]["total"] == len(dataset.interactions) == first.created["interactions"]
    assert before["kg"]["triples"] == len(dataset.triples) and before["kg"]["relations"] == 2
    assert before["social"] == len(dataset.social)
    assert before["nodes"]["Genre"] == 12

    second = ingest(graph, dataset, batch_edges=500, write_path=write_path)
    assert sum(second.created.values()) == 0
    assert graph_stats(graph) == before


def test_both_write_paths_store_the_same_graph(graph: Graph, tmp_path):
    """Every edge with its properties, and every property's type, is the same whichever path wrote it."""
    folder = write_sample(tmp_path / "s", n_users=60, n_items=50, seed=4)
    dataset = loaders.load("csv", folder)
    edges = ("MATCH (a)-[r]->(b) RETURN labels(a)[0] AS a_label, a.id AS a, type(r) AS type, r.split AS split, "
             "r.weight AS weight, r.ts AS ts, r.relation AS relation, labels(b)[0] AS b_label, b.id AS b")

    def snapshot() -> list:
        return sorted(tuple((k, v, type(v).__name__) for k, v in row.items()) for row in graph.query(edges))

    ingest(graph, dataset, write_path="cypher")
    by_cypher = snapshot()
    graph.clear()
    ingest(graph, dataset, write_path="bulk")
    assert snapshot() == by_cypher and len(by_cypher) == len(dataset.interactions) + len(dataset.triples) + len(
        dataset.social)
    # Both directions of every edge are there (the server keeps an incoming list per vertex).
    incoming = graph.query("MATCH (i:Item)<-[r:INTERACTED]-(:User) RETURN count(r) AS n")[0]["n"]
    assert incoming == len(dataset.interactions)


def test_changed_weights_are_updated_not_duplicated(graph: Graph):
    ingest(graph, Dataset("a", interactions=[Interaction("u1", "i1", 1.0, 10, "train")]))
    report = ingest(graph, Dataset("a", interactions=[Interaction("u1", "i1", 5.0, 10, "train")]))
    assert report.updated["interactions"] == 1 and report.created["interactions"] == 0
    rows = graph.query("MATCH (:User)-[r:INTERACTED]->(:Item) RETURN r.weight AS w")
    assert rows == [{"w": 5.0}]


def test_bad_file_leaves_the_graph_exactly_as_it_was(graph: Graph, tmp_path):
    folder = write_sample(tmp_path / "s", n_users=50, n_items=40, seed=1)
    ingest_files(graph, "csv", folder)
    before = graph_stats(graph)
    bad = write_sample(tmp_path / "bad", n_users=60, n_items=50, seed=2)
    with open(bad / "social.csv", "a") as fh:
        fh.write("u0001\n")  # a row with one column: malformed, at the end of the last file read
    with pytest.raises(InputError, match=r"social\.csv.*line"):
        ingest_files(graph, "csv", bad)
    assert graph_stats(graph) == before


def test_cli_reports_bad_input_with_file_and_line(graph: Graph, settings, tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "interactions.csv").write_text("user,item,weight\nu1,i1,3\nu2,i2,lots\n")
    result = CliRunner().invoke(cli, ["--home", str(settings.home), "ingest", "csv", str(folder)],
                                env={"NEO4J_URI": ""})
    assert result.exit_code != 0
    assert "interactions.csv" in str(result.exception) and "line 3" in str(result.exception)
    assert graph_stats(graph)["interactions"]["total"] == 0


def test_interrupted_bulk_ingest_is_finished_by_running_it_again(graph: Graph, tmp_path, monkeypatch):
    from graphrec.db import dialect

    folder = write_sample(tmp_path / "s", n_users=150, n_items=100, seed=5)
    dataset = loaders.load("csv", folder)
    real = dialect.post_batch
    calls = {"n": 0}

    def flaky(endpoint, rel_type, lines, timeout=3600.0):
        calls["n"] += 1
        if calls["n"] > 2:
            raise KeyboardInterrupt
        return real(endpoint, rel_type, lines, timeout)

    monkeypatch.setattr(dialect, "post_batch", flaky)
    with pytest.raises(KeyboardInterrupt):
        ingest(graph, dataset, batch_edges=300, write_path="bulk")
    partial = graph_stats(graph)["interactions"]["total"]
    assert partial == 600

    monkeypatch.setattr(dialect, "post_batch", real)
    report = ingest(graph, dataset, batch_edges=300, write_path="bulk")
    assert report.created["interactions"] == len(dataset.interactions) - 600
    stats = graph_stats(graph)
    assert stats["interactions"]["total"] == len(dataset.interactions)
    assert stats["social"] == len(dataset.social) and stats["kg"]["triples"] == len(dataset.triples)


def test_a_failed_bulk_request_names_what_was_committed(graph: Graph):
    from graphrec.db import dialect
    from graphrec.errors import DatabaseError

    graph.query("CREATE (:User {id: 'a'}), (:User {id: 'b'})", write=True)
    rid = {r["id"]: r["rid"] for r in graph.query("MATCH (u:User) RETURN u.id AS id, elementId(u) AS rid")}
    lines = [dialect.edge_line("FOLLOWS", rid["a"], rid["b"]), dialect.edge_line("FOLLOWS", rid["a"], "#999:1")]
    with pytest.raises(DatabaseError, match=r"bulk write of 2 FOLLOWS edges failed.*#999:1.*Run the same ingest again"):
        dialect.bulk_edges(graph.admin, "FOLLOWS", lines)


def test_interrupted_cypher_ingest_is_finished_by_running_it_again(graph: Graph, tmp_path, monkeypatch):
    folder = write_sample(tmp_path / "s", n_users=150, n_items=100, seed=5)
    dataset = loaders.load("csv", folder)
    real = Graph.write_batches
    calls = {"n": 0}

    def flaky(self, name, batches, on_batch=None, identifiers=None, **params):
        def interrupting():
            for batch in batches:
                if name == "ingest.create_interactions":
                    calls["n"] += 1
                    if calls["n"] > 2:
                        raise KeyboardInterrupt
                yield batch
        return real(self, name, interrupting(), on_batch, identifiers, **params)

    monkeypatch.setattr(Graph, "write_batches", flaky)
    with pytest.raises(KeyboardInterrupt):
        ingest(graph, dataset, batch_edges=300, write_path="cypher")
    partial = graph_stats(graph)["interactions"]["total"]
    assert 0 < partial < len(dataset.interactions)

    monkeypatch.setattr(Graph, "write_batches", real)
    ingest(graph, dataset, batch_edges=300, write_path="cypher")
    stats = graph_stats(graph)
    assert stats["interactions"]["total"] == len(dataset.interactions)
    assert stats["social"] == len(dataset.social) and stats["kg"]["triples"] == len(dataset.triples)


@WRITE_PATHS
def test_hostile_relation_names_and_ids_are_inert(graph: Graph, write_path):
    hostile = ["x]->() DETACH DELETE n //", "`) MATCH (n) DETACH DELETE n //", "INTERACTED", "' OR 1=1 --"]
    ids = ["O'Brien", 'say "hi"', "}) DETACH DELETE n //", "u1"]
    dataset = Dataset(
        "hostile",
        interactions=[Interaction(u, "i1", split="train") for u in ids],
        triples=[Triple("i1", rel, f"e{k}", "Item", "Entity") for k, rel in enumerate(hostile)],
        social=[SocialEdge(ids[0], ids[2])],
        nodes=[Node("Entity", "e0", {"name": "'; MATCH (n) DETACH DELETE n"}, ("Genre",))],
    )
    ingest(graph, dataset, write_path=write_path)
    stats = graph_stats(graph)
    assert stats["users"] == 4 and stats["interactions"]["total"] == 4
    assert stats["kg"]["triples"] == 4 and stats["relationships"]["INTERACTED"] == 4
    stored = {r["relation"] for r in graph.query("MATCH ()-[r]->() WHERE r.relation IS NOT NULL "
                                                 "RETURN r.relation AS relation")}
    assert stored == set(hostile)
    assert {r["id"] for r in graph.query("MATCH (u:User) RETURN u.id AS id")} == set(ids)


def test_small_real_datasets_match_provenance(graph: Graph, shared_data):
    report = ingest_files(graph, "movielens", shared_data / "ml-100k")
    stats = graph_stats(graph)
    assert (stats["users"], stats["items"]) == (943, 1682)
    assert stats["interactions"]["total"] == 100_000 and stats["kg"]["triples"] == 2893
    assert stats["nodes"]["Genre"] == 19
    assert report.created["interactions"] == 100_000
    again = ingest_files(graph, "movielens", shared_data / "ml-100k")
    assert sum(again.created.values()) == 0 and graph_stats(graph) == stats


def test_lastfm_with_all_three_edge_kinds(graph: Graph, shared_data):
    ingest_files(graph, "lastfm", shared_data / "lastfm-hetrec2011")
    stats = graph_stats(graph)
    assert stats["users"] == 1892
    assert stats["interactions"]["total"] == 92_834
    assert stats["social"] == 25_434
    assert stats["kg"] == {"triples": 15_518, "relations": 60}
