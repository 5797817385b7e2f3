"""Ingest against the real server: counts, idempotence, no partial writes, interruption, parallel writers, hostile
names."""

from __future__ import annotations

import contextlib

import pytest
from click.testing import CliRunner

import loaders
from graphrec.cli import cli
from graphrec.db.connect import Graph
from graphrec.errors import DatabaseError, InputError
from graphrec.ingest import ingest, ingest_files
from graphrec.sample import write_sample
from graphrec.stats import graph_stats
from loaders.records import Dataset, Interaction, Node, SocialEdge, Triple

WRITERS = pytest.mark.parametrize("writers", [1, 3])
EDGES = ("MATCH (a)-[r]->(b) RETURN labels(a)[0] AS a_label, a.id AS a, type(r) AS type, r.split AS split, "
         "r.weight AS weight, r.ts AS ts, r.relation AS relation, labels(b)[0] AS b_label, b.id AS b")


def snapshot(graph: Graph) -> list:
    """Every edge with its properties and every property's type."""
    return sorted(tuple((k, v, type(v).__name__) for k, v in row.items()) for row in graph.query(EDGES))


@WRITERS
def test_sample_graph_counts_and_second_run_changes_nothing(graph: Graph, tmp_path, writers):
    folder = write_sample(tmp_path / "s", n_users=120, n_items=90, seed=3)
    dataset = loaders.load("csv", folder)
    first = ingest(graph, dataset, batch_edges=500, writers=writers)
    before = graph_stats(graph)
    assert before["users"] == 120 and before["items"] == len({i.item for i in dataset.interactions} |
                                                              {t.head for t in dataset.triples})
    assert before["interactions"]["total"] == len(dataset.interactions) == first.created["interactions"]
    assert before["kg"]["triples"] == len(dataset.triples) and before["kg"]["relations"] == 2
    assert before["social"] == len(dataset.social)
    assert before["nodes"]["Genre"] == 12

    second = ingest(graph, dataset, batch_edges=500, writers=writers)
    assert sum(second.created.values()) == 0 and sum(second.updated.values()) == 0
    assert second.present["interactions"] == len(dataset.interactions)
    assert graph_stats(graph) == before


def test_parallel_writers_store_the_same_graph_as_one(graph: Graph, tmp_path):
    """Every edge with its properties, and every property's type, is the same however many writers wrote it, and
    every edge is there once: the writers' shares of the source nodes are disjoint."""
    folder = write_sample(tmp_path / "s", n_users=60, n_items=50, seed=4)
    dataset = loaders.load("csv", folder)
    ingest(graph, dataset, writers=1)
    by_one = snapshot(graph)
    graph.clear()
    ingest(graph, dataset, batch_edges=37, writers=4)
    assert snapshot(graph) == by_one and len(by_one) == len(dataset.interactions) + len(dataset.triples) + len(
        dataset.social)
    # Both directions of every edge are there (the server keeps an incoming list per node).
    incoming = graph.query("MATCH (i:Item)<-[r:INTERACTED]-(:User) RETURN count(r) AS n")[0]["n"]
    assert incoming == len(dataset.interactions)


def test_unweighted_interactions_carry_only_their_split(graph: Graph):
    dataset = Dataset("g", interactions=[Interaction("u1", "i1", split="train"), Interaction("u1", "i2", split="test"),
                                         Interaction("u2", "i1", split="train"), Interaction("u2", "i3")])
    report = ingest(graph, dataset, batch_edges=1, writers=2)
    assert report.created["interactions"] == 4
    rows = graph.query("MATCH (u:User)-[r:INTERACTED]->(i:Item) RETURN u.id AS u, i.id AS i, properties(r) AS p")
    assert sorted((r["u"], r["i"], r["p"]) for r in rows) == [
        ("u1", "i1", {"split": "train"}), ("u1", "i2", {"split": "test"}), ("u2", "i1", {"split": "train"}),
        ("u2", "i3", {})]
    assert sum(ingest(graph, dataset).created.values()) == 0


def test_changed_weights_are_updated_not_duplicated(graph: Graph):
    ingest(graph, Dataset("a", interactions=[Interaction("u1", "i1", 1.0, 10, "train")]))
    report = ingest(graph, Dataset("a", interactions=[Interaction("u1", "i1", 5.0, 10, "train")]))
    assert report.updated["interactions"] == 1 and report.created["interactions"] == 0
    rows = graph.query("MATCH (:User)-[r:INTERACTED]->(:Item) RETURN r.weight AS w")
    assert rows == [{"w": 5.0}]


def test_node_properties_come_with_new_nodes_and_only_changes_are_written_again(graph: Graph):
    first = Dataset("n", interactions=[Interaction("u1", "i1", split="train")],
                    nodes=[Node("Item", "i1", {"title": "One", "year": 1999}), Node("Item", "i2", {"title": "Two"})])
    assert ingest(graph, first).created["Item"] == 2
    again = ingest(graph, first)
    assert again.created["Item"] == 0 and again.updated["Item"] == 0
    changed = Dataset("n", nodes=[Node("Item", "i1", {"title": "One", "year": 2001}),
                                  Node("Item", "i2", {"title": "Two"})])
    assert ingest(graph, changed).updated["Item"] == 1
    rows = graph.query("MATCH (i:Item) RETURN i.id AS id, i.title AS title, i.year AS year ORDER BY id")
    assert rows == [{"id": "i1", "title": "One", "year": 2001}, {"id": "i2", "title": "Two", "year": None}]


def test_progress_counts_every_edge_once(graph: Graph, tmp_path):
    dataset = loaders.load("csv", write_sample(tmp_path / "s", n_users=80, n_items=60, seed=6))
    counted: dict[str, int] = {}

    @contextlib.contextmanager
    def progress(desc: str, total: int):
        counted[desc] = 0

        def advance(n: int) -> None:
            counted[desc] += n
        yield advance
        assert counted[desc] == total, desc

    report = ingest(graph, dataset, batch_edges=100, writers=2, progress=progress)
    assert counted["interactions"] == report.created["interactions"] == len(dataset.interactions)
    assert counted["kg triples"] == len(dataset.triples) and counted["social edges"] == len(dataset.social)


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


def test_cli_takes_batch_size_and_writers(graph: Graph, settings, tmp_path):
    folder = write_sample(tmp_path / "s", n_users=40, n_items=50, seed=8)
    args = ["--home", str(settings.home), "ingest", "csv", str(folder), "--batch-edges", "50", "--writers", "2",
            "--json"]
    result = CliRunner().invoke(cli, args, env={"NEO4J_URI": ""})
    assert result.exit_code == 0, result.output
    assert graph_stats(graph)["interactions"]["total"] == len(loaders.load("csv", folder).interactions)
    refused = CliRunner().invoke(cli, args[:5] + ["--writers", "0"], env={"NEO4J_URI": ""})
    assert refused.exit_code != 0 and "writers must be a whole number between 1 and 32, got 0" in str(
        refused.exception)


def flaky_write_batches(monkeypatch, fail: type[BaseException] | BaseException, after: int, statement: str) -> None:
    """Make Graph.write_batches raise ``fail`` in place of every ``statement`` batch after the first ``after``."""
    real = Graph.write_batches
    calls = {"n": 0}

    def flaky(self, name, batches, on_batch=None, identifiers=None, **params):
        def interrupting():
            for batch in batches:
                if name == statement:
                    calls["n"] += 1
                    if calls["n"] > after:
                        raise fail
                yield batch
        return real(self, name, interrupting(), on_batch, identifiers, **params)

    monkeypatch.setattr(Graph, "write_batches", flaky)


def test_interrupted_ingest_is_finished_by_running_it_again(graph: Graph, tmp_path, monkeypatch):
    folder = write_sample(tmp_path / "s", n_users=150, n_items=100, seed=5)
    dataset = loaders.load("csv", folder)
    flaky_write_batches(monkeypatch, KeyboardInterrupt, 2, "ingest.create_interactions")
    with pytest.raises(KeyboardInterrupt):
        ingest(graph, dataset, batch_edges=300, writers=1)
    assert graph_stats(graph)["interactions"]["total"] == 600   # two whole batches

    monkeypatch.undo()
    report = ingest(graph, dataset, batch_edges=300, writers=1)
    assert report.created["interactions"] == len(dataset.interactions) - 600
    assert report.present["interactions"] == 600
    stats = graph_stats(graph)
    assert stats["interactions"]["total"] == len(dataset.interactions)
    assert stats["social"] == len(dataset.social) and stats["kg"]["triples"] == len(dataset.triples)


def test_a_failed_parallel_writer_leaves_whole_batches_and_a_rerun_completes(graph: Graph, tmp_path, monkeypatch):
    folder = write_sample(tmp_path / "s", n_users=150, n_items=100, seed=5)
    dataset = loaders.load("csv", folder)
    failure = DatabaseError("ingest.create_interactions failed on bolt://x: Neo.TransientError.Transaction.Terminated")
    flaky_write_batches(monkeypatch, failure, 3, "ingest.create_interactions")
    with pytest.raises(DatabaseError, match=r"writer \d of 2 running ingest\.create_interactions failed, so the others "
                                            r"stopped after their current batch \(.*Terminated\).*run the same ingest "
                                            r"again"):
        ingest(graph, dataset, batch_edges=100, writers=2)
    partial = graph_stats(graph)
    assert partial["interactions"]["total"] == 300   # the three batches that went through, each whole
    assert partial["kg"]["triples"] == 0 and partial["social"] == 0   # later stages never began

    monkeypatch.undo()
    report = ingest(graph, dataset, batch_edges=100, writers=2)
    assert report.created["interactions"] == len(dataset.interactions) - 300
    stats = graph_stats(graph)
    assert stats["interactions"]["total"] == len(dataset.interactions)
    assert stats["social"] == len(dataset.social) and stats["kg"]["triples"] == len(dataset.triples)


def test_a_statement_the_server_refuses_is_a_database_error_naming_it(graph: Graph, monkeypatch):
    from graphrec.db import cypher

    real = cypher.statement
    monkeypatch.setattr(cypher, "statement", lambda name: "UNWIND $rows AS row RETURN 1 / 0" if name ==
                        "ingest.create_unweighted_interactions" else real(name))
    dataset = Dataset("z", interactions=[Interaction(f"u{k}", "i1", split="train") for k in range(10)])
    with pytest.raises(DatabaseError, match=r"writer \d of 2 running ingest\.create_unweighted_interactions failed.*"
                                            r"/ by zero"):
        ingest(graph, dataset, batch_edges=1, writers=2)
    assert graph_stats(graph)["interactions"]["total"] == 0
    monkeypatch.undo()
    assert ingest(graph, dataset).created["interactions"] == 10


@WRITERS
def test_hostile_relation_names_and_ids_are_inert(graph: Graph, writers):
    hostile = ["x]->() DETACH DELETE n //", "`) MATCH (n) DETACH DELETE n //", "INTERACTED", "' OR 1=1 --"]
    ids = ["O'Brien", 'say "hi"', "}) DETACH DELETE n //", "u1"]
    dataset = Dataset(
        "hostile",
        interactions=[Interaction(u, "i1", split="train") for u in ids],
        triples=[Triple("i1", rel, f"e{k}", "Item", "Entity") for k, rel in enumerate(hostile)],
        social=[SocialEdge(ids[0], ids[2])],
        nodes=[Node("Entity", "e0", {"name": "'; MATCH (n) DETACH DELETE n"}, ("Genre",))],
    )
    ingest(graph, dataset, writers=writers)
    stats = graph_stats(graph)
    assert stats["users"] == 4 and stats["interactions"]["total"] == 4
    assert stats["kg"]["triples"] == 4 and stats["relationships"]["INTERACTED"] == 4
    stored = {r["relation"] for r in graph.query("MATCH ()-[r]->() WHERE r.relation IS NOT NULL "
                                                 "RETURN r.relation AS relation")}
    assert stored == set(hostile)
    assert {r["id"] for r in graph.query("MATCH (u:User) RETURN u.id AS id")} == set(ids)
    assert graph.query("MATCH (e:Genre) RETURN e.name AS name") == [{"name": "'; MATCH (n) DETACH DELETE n"}]
    again = ingest(graph, dataset, writers=writers)
    assert sum(again.created.values()) == 0 and sum(again.updated.values()) == 0


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
