"""The run commands a newcomer reads first (#34): `runs list` in words, `runs switch latest`, `stats` without a split,
and `db reset` on an external graph leaving no vector index behind."""

from __future__ import annotations

import time

import pytest
import torch
from click.testing import CliRunner

import loaders
from graphrec.cli import cli

from graphrec import recommend as rec
from graphrec.errors import NotFoundError
from graphrec.export import export
from graphrec.ingest import ingest
from graphrec.publish import publish, serving
from graphrec.runs import save_graphs
from graphrec.sidegraphs import SideGraphs
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


def test_a_user_the_run_saw_nothing_of_gets_no_noise(graph, tmp_path):
    """#34: a user with no interactions used to get its untrained random embedding ranked as if it meant something."""
    dataset, _ = load_graph(graph)
    graph.query("CREATE (:User {id: 'lonely'})", write=True)
    _, maps = export(graph)
    run = random_run(tmp_path, maps, seed=5)
    users = maps.index["user"]
    train = torch.tensor([[users[it.user], maps.index["item"][it.item]] for it in dataset.interactions
                          if it.split == "train"]).T
    save_graphs(run.path, train, SideGraphs(len(users), len(maps.ids["item"])))
    report = publish(graph, run)
    assert report.unseen_users == 1 and report.zero_users == 1 and report.users == len(users) - 1
    with pytest.raises(NotFoundError, match="user 'lonely' has no embedding .* no interactions or friends"):
        rec.recommend(graph, "lonely", 5)
    assert rec.recommend(graph, "u1", 5)  # everyone else as before


def test_conflicting_duplicate_rows_are_reported(graph, settings, tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "interactions.csv").write_text("user,item,weight\nu1,i1,1\nu1,i1,5\nu2,i1,2\nu2,i1,2\n")
    report = ingest(graph, loaders.load("csv", tmp_path / "d"))
    assert report.duplicates == 2 and report.conflicts == 1
    assert graph.query("MATCH (:User {id: 'u1'})-[r:INTERACTED]->() RETURN r.weight AS w")[0]["w"] == 5.0
    graph.clear()
    out = CliRunner().invoke(cli, ["--home", str(settings.home), "ingest", "csv", str(tmp_path / "d")],
                             env={"NEO4J_URI": ""})
    assert out.exit_code == 0 and "1 repeat an interaction with another weight or timestamp" in out.stderr
