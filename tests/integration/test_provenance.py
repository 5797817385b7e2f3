"""Two datasets never mix without the user asking (#34): the graph records where its data came from, and an ingest
that would mix another dataset in, or merge nodes by colliding ids, stops before writing."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import loaders
from graphrec.cli import cli
from graphrec.db.server import EmbeddedServer
from graphrec.errors import ConfigError
from graphrec.ingest import ingest
from graphrec.provenance import sources
from graphrec.sample import write_sample
from loaders.records import Dataset, Interaction, Node
from tests.integration.cli_helpers import run_cli


def _counts(graph) -> tuple[int, int]:
    return (graph.query("MATCH (n) RETURN count(n) AS n")[0]["n"],
            graph.query("MATCH ()-[r]->() RETURN count(r) AS n")[0]["n"])


def _dataset(name: str, fmt: str, pairs, titles=None) -> Dataset:
    d = Dataset(name, interactions=[Interaction(u, i) for u, i in pairs],
                nodes=[Node("Item", i, {"title": t}) for i, t in (titles or {}).items()])
    d.format = fmt
    return d


def test_colliding_ids_from_another_dataset_stop_the_ingest_and_change_nothing(graph):
    ingest(graph, _dataset("gowalla", "lightgcn", [("0", "1"), ("1", "1"), ("1", "2")]))
    before = _counts(graph)
    movies = _dataset("ml-100k", "movielens", [("1", "1"), ("7", "9")], {"1": "Toy Story (1995)"})
    with pytest.raises(ConfigError, match=r"movielens:ml-100k: 2 of its ids are already nodes of another dataset.*"
                                          r"from lightgcn:gowalla.*Nothing was written.*--merge"):
        ingest(graph, movies)
    assert _counts(graph) == before
    assert graph.query("MATCH (i:Item {id: '1'}) RETURN i.title AS t")[0]["t"] is None
    assert [s["key"] for s in sources(graph)] == ["lightgcn:gowalla"]


def test_a_second_dataset_is_refused_unless_merged_on_purpose(graph):
    ingest(graph, _dataset("a", "csv", [("ua", "ia")]))
    other = _dataset("b", "csv", [("ub", "ib")])
    with pytest.raises(ConfigError, match="this graph already holds csv:a; ingesting a second dataset would mix them"):
        ingest(graph, other)
    report = ingest(graph, other, merge=True)
    assert report.created["interactions"] == 1
    keys = {s["key"]: s for s in sources(graph)}
    assert set(keys) == {"csv:a", "csv:b"} and keys["csv:b"]["merged"] and keys["csv:b"]["status"] == "ingested"
    assert graph.query("MATCH (u:User {id: 'ub'}) RETURN u.graphrec_source AS s")[0]["s"] == "csv:b"


def test_the_same_dataset_again_and_an_interrupted_one_are_finished(graph, tmp_path):
    data = loaders.load("csv", write_sample(tmp_path / "s", n_users=40, n_items=60, seed=3))
    ingest(graph, data)
    assert ingest(graph, data).created["interactions"] == 0
    # an ingest that stopped before it marked its nodes: its own unmarked nodes are not "another dataset"
    graph.query("MATCH (n) WHERE n.graphrec_source IS NOT NULL REMOVE n.graphrec_source", write=True)
    graph.query("MATCH (s:GraphrecSource) SET s.status = 'ingesting'", write=True)
    assert ingest(graph, data).created["interactions"] == 0
    assert sources(graph)[0]["status"] == "ingested"


def test_cli_ingest_says_so_in_one_line_and_merges_with_the_flag(graph, settings, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for folder, user in ((a, "ua"), (b, "ub")):
        folder.mkdir()
        (folder / "interactions.csv").write_text(f"user,item\n{user},i1\n")
    run_cli(settings, "ingest", "csv", str(a))
    refused = CliRunner().invoke(cli, ["--home", str(settings.home), "ingest", "csv", str(b)], env={"NEO4J_URI": ""})
    assert refused.exit_code != 0 and "--merge" in str(refused.exception)
    run_cli(settings, "ingest", "csv", str(b), "--merge")
    stats = json.loads(run_cli(settings, "stats", "--json").output)
    assert [s["key"] for s in stats["sources"]] == ["csv:a", "csv:b"]


def test_the_demo_on_a_dataset_runs_on_a_graph_of_its_own(graph, settings, tmp_path):
    """The README's `quickstart --data ...` after the sample quickstart: the dataset gets its own graph."""
    ingest(graph, loaders.load("csv", write_sample(tmp_path / "sample", n_users=40, n_items=60, seed=3)))
    before = _counts(graph)
    data = write_sample(tmp_path / "shop", n_users=60, n_items=60, seed=5)
    own_home = settings.home / "demos" / "csv-shop"
    (own_home).mkdir(parents=True)
    (own_home / "config.toml").write_text('server_heap = "1g"\nserver_pagecache = "256m"\n')
    try:
        result = CliRunner().invoke(cli, ["--home", str(settings.home), "demo", "--data", str(data), "--epochs", "5"],
                                    env={"NEO4J_URI": ""})
        assert result.exit_code == 0, result.output
        assert f"graphrec --home {own_home} recommend" in result.output and "[5/5]" in result.output
        assert "epoch    5/5" in result.stderr and "valid recall@20" in result.stderr
    finally:
        EmbeddedServer(own_home).stop()
    assert _counts(graph) == before, "the demo wrote into the configured graph"
