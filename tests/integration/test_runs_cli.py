"""The run commands a newcomer reads first (#34): `runs list` in words, `runs switch latest`, `stats` without a split,
and `db reset` on an external graph leaving no vector index behind."""

from __future__ import annotations

import time

from graphrec.ingest import ingest
from graphrec.publish import publish, serving
from loaders.records import Dataset, Interaction
from tests.integration.cli_helpers import run_cli
from tests.integration.serving_data import load_graph, random_run


def test_runs_list_shows_metrics_as_words_and_switch_latest_serves_the_newest(graph, settings, tmp_path):
    _, maps = load_graph(graph)
    first, second = random_run(tmp_path, maps, seed=1), random_run(tmp_path, maps, seed=2)
    publish(graph, first)
    time.sleep(0.01)
    publish(graph, second, serve=False)
    listing = run_cli(settings, "runs", "list").output
    assert "test recall@20 0.0000" in listing and "{" not in listing
    assert serving(graph)["id"] == first.id
    assert f"now serving {second.id}" in run_cli(settings, "runs", "switch", "latest").output
    assert serving(graph)["id"] == second.id


def test_stats_names_interactions_without_a_split(graph, settings):
    ingest(graph, Dataset("nosplit", interactions=[Interaction("u1", "i1"), Interaction("u2", "i1")]))
    out = run_cli(settings, "stats").output
    assert "no split 2" in out and "none 2" not in out


def test_clear_drops_graphrecs_vector_indexes(graph, tmp_path):
    _, maps = load_graph(graph)
    publish(graph, random_run(tmp_path, maps, seed=3))
    assert graph.read("db.graphrec_indexes")
    graph.clear()
    assert graph.read("db.graphrec_indexes") == [] and graph.query("MATCH (n) RETURN count(n) AS n")[0]["n"] == 0
