"""The offline first load (Neo4j's importer into a never-started embedded database) against real servers: the graph
it builds is the Bolt path's, a bad row or an interrupted import leaves no database, a second ingest changes nothing.

Each test that loads runs a server of its own in a fresh home (the session's server has its database already)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

import loaders
from graphrec.cli import cli
from graphrec.config import Settings, load_settings
from graphrec.db import offline_import
from graphrec.db.connect import Graph, connect
from graphrec.db.server import EmbeddedServer, free_port
from graphrec.firstload import first_load
from graphrec.ingest import ingest
from graphrec.sample import write_sample
from loaders.records import Interaction, Node, SocialEdge, Triple

NODES = "MATCH (n) RETURN labels(n) AS labels, properties(n) AS props"
EDGES = ("MATCH (a)-[r]->(b) RETURN labels(a) AS a_labels, coalesce(a.id, a.key) AS a, type(r) AS type, "
         "properties(r) AS props, labels(b) AS b_labels, coalesce(b.id, b.key) AS b")
WHEN = {"started_at", "finished_at"}   # the GraphrecSource's clock times


def _typed(props: dict) -> tuple:
    return tuple(sorted((k, v, type(v).__name__) for k, v in props.items() if k not in WHEN))


def export(graph: Graph) -> tuple[Counter, Counter, set, set]:
    """Every node and edge with its labels and properties (and their types), the constraints and the indexes."""
    nodes = Counter((tuple(sorted(r["labels"])), _typed(r["props"])) for r in graph.query(NODES))
    edges = Counter((tuple(r["a_labels"]), r["a"], r["type"], _typed(r["props"]), tuple(r["b_labels"]), r["b"])
                    for r in graph.query(EDGES))
    constraints = {(r["name"], r["type"], tuple(r["labelsOrTypes"]), tuple(r["properties"])) for r in graph.query(
        "SHOW CONSTRAINTS YIELD name, type, labelsOrTypes, properties WHERE name STARTS WITH 'graphrec_' "
        "RETURN *")}
    indexes = {(r["name"], r["type"], tuple(r["labelsOrTypes"] or ()), tuple(r["properties"] or ())) for r in
               graph.query("SHOW INDEXES YIELD name, type, labelsOrTypes, properties, owningConstraint "
                           "WHERE name STARTS WITH 'graphrec_' OR type = 'LOOKUP' RETURN *")}
    return nodes, edges, constraints, indexes


def _home(tmp_path: Path) -> Settings:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(f"bolt_port = {free_port()}\nhttp_port = {free_port()}\nserver_heap = '1g'\n"
                                      "server_pagecache = '256m'\n")
    return load_settings(home=str(home), environ={})


def _dataset(folder: Path):
    """The sample graph (KG, friendships, genres as extra labels, weights, timestamps), and rows that try the CSV:
    quotes, commas, a newline and an empty string in properties, ints, floats and booleans, no split, no weight,
    repeats and a conflicting repeat, a second label's properties, an Entity -> Entity fact."""
    dataset = loaders.load("csv", write_sample(folder, n_users=60, n_items=45, seed=5))
    dataset.interactions += [Interaction("odd,\"user\"", "i-x", split=None), Interaction("odd,\"user\"", "i-x"),
                             Interaction("u-w", "i-x", 2.5, None, "train"), Interaction("u-w", "i-x", 3.5, None,
                                                                                         "train"),
                             Interaction("u-w", "i-y", None, 1_700_000_000_000, "valid")]
    dataset.nodes += [Node("Item", "i-x", {"title": 'He said "hi",\nthen left', "year": 1999, "score": 0.1,
                                           "new": True, "blank": ""}),
                      Node("Item", "i-y", {"title": "plain", "year": 2001.5}),
                      Node("User", "u-w", {"age": 41}), Node("Entity", "e-z", {"name": "Zed"}, ("Tag", "Genre"))]
    dataset.triples += [Triple("e-z", "related to", "i-x", "Entity", "Item"),
                        Triple("e-z", "related.to", "e-z", "Entity", "Entity")]
    dataset.social += [SocialEdge("u-w", "odd,\"user\""), SocialEdge("u-w", "odd,\"user\"", 2.0)]
    return dataset


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    """A dataset loaded by the offline importer into a home of its own, the report, and the graph, open."""
    tmp_path = tmp_path_factory.mktemp("offline")
    settings = _home(tmp_path)
    dataset = _dataset(tmp_path / "sample")
    try:
        report = first_load(settings, dataset)
        with connect(settings) as graph:
            yield dataset, report, graph
    finally:
        EmbeddedServer.of(settings).stop()


def test_the_offline_importer_stores_the_graph_the_bolt_path_stores(offline, graph: Graph):
    dataset, report, offline_graph = offline
    assert report.method == "offline"
    by_bolt = ingest(graph, dataset)
    assert (report.created, report.present, report.updated, report.duplicates, report.conflicts) == (
        by_bolt.created, by_bolt.present, by_bolt.updated, by_bolt.duplicates, by_bolt.conflicts)
    assert report.duplicates == 3 and report.conflicts == 1
    ours, theirs = export(offline_graph), export(graph)
    assert ours[0] == theirs[0], "nodes differ"
    assert ours[1] == theirs[1], "edges differ"
    assert ours[2] == theirs[2] and len(ours[2]) == 5, "uniqueness constraints differ"
    assert ours[3] == theirs[3], "indexes differ"
    source = offline_graph.query("MATCH (s:GraphrecSource) RETURN s.status AS status, s.finished_at AS done")
    assert source[0]["status"] == "ingested" and source[0]["done"]


def test_a_second_ingest_goes_over_bolt_and_changes_nothing(offline):
    dataset, _, graph = offline
    before = export(graph)
    again = ingest(graph, dataset)
    assert again.method == "bolt" and sum(again.created.values()) == 0 and sum(again.updated.values()) == 0
    assert export(graph) == before


def _cli(settings: Settings, *args: str):
    return CliRunner().invoke(cli, ["--home", str(settings.home), *args], env={"NEO4J_URI": ""})


def test_a_bad_row_stops_the_first_load_before_any_database_exists(tmp_path):
    settings = _home(tmp_path)
    folder = write_sample(tmp_path / "bad", n_users=30, n_items=45, seed=2)
    with open(folder / "social.csv", "a") as fh:
        fh.write("u0001\n")  # one column: malformed
    result = _cli(settings, "ingest", "csv", str(folder), "--offline")
    assert result.exit_code != 0 and "social.csv, line 8" in str(result.exception), result.output
    server = EmbeddedServer.of(settings)
    assert not server.has_store() and not server.status().running
    assert not (server.root / "data").exists() and not offline_import.staging(server).exists()


def test_an_interrupted_import_leaves_no_database_and_the_next_ingest_loads_it_whole(tmp_path):
    settings = _home(tmp_path)
    server = EmbeddedServer.of(settings)
    folder = write_sample(tmp_path / "s", n_users=40, n_items=45, seed=3)
    dataset = loaders.load("csv", folder)

    class Interrupted(Exception):
        pass

    def progress(desc: str, total: int):
        if desc.startswith("import 3/"):   # the importer has written nodes and relationships by then
            raise Interrupted(desc)
        from graphrec.progress import silent
        return silent(desc, total)

    try:
        with pytest.raises(Interrupted):
            first_load(settings, dataset, progress=progress)
        assert not server.has_store() and not server.status().running
        assert not offline_import.staging(server).exists()
        # What a kill -9 in the middle would leave: a half staged store, and logs moved without their store.
        half = offline_import.staging(server) / "data" / "databases" / "neo4j"
        half.mkdir(parents=True)
        (half / "neostore").write_bytes(b"half")
        orphan = server.root / "data" / "transactions" / "neo4j"
        orphan.mkdir(parents=True)
        (orphan / "neostore.transaction.db.0").write_bytes(b"orphan")

        result = _cli(settings, "ingest", "csv", str(folder), "--offline")
        assert result.exit_code == 0, result.output
        assert "offline importer" in result.output
        assert not offline_import.staging(server).exists()
        again = _cli(settings, "ingest", "csv", str(folder))
        assert again.exit_code == 0, again.output
        assert "writing over Bolt" in again.output and "already present" in again.output
        with connect(settings) as graph:
            counts = graph.query("MATCH ()-[r]->() RETURN count(r) AS n")[0]["n"]
        assert counts == len(dataset.interactions) + len(dataset.triples) + len(dataset.social)
    finally:
        server.stop()
