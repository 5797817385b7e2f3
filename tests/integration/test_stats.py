"""`graphrec stats` on the real server: what caps any model on a stored split is reported, counted exactly."""

from __future__ import annotations

import json

from graphrec.ingest import ingest
from graphrec.stats import graph_stats
from loaders.records import KG_ID_FIX, Dataset, Interaction
from tests.integration.cli_helpers import run_cli


def test_stats_reports_overlap_unseen_test_items_and_users_without_test(graph, settings):
    rows = [("u1", "a", "train"), ("u1", "b", "train"), ("u1", "a", "test"),   # (u1, a) in both
            ("u2", "a", "train"), ("u2", "z", "test"),                        # z: no training interaction
            ("u3", "b", "train"), ("u3", "a", "test"),
            ("u4", "b", "train")]                                             # u4: nothing in test
    ingest(graph, Dataset("health", interactions=[Interaction(u, i, split=s) for u, i, s in rows]))
    health = graph_stats(graph)["split_health"]
    assert health == {"train_test_overlap": 1, "test_items_unseen_in_train": 1, "users_without_test": 1,
                      "users_with_test": 3}
    out = run_cli(settings, "stats").output
    assert "1 (user, item) pairs in both train and test" in out and "1 test interactions with an item" in out


def test_a_kg_numbered_with_the_items_is_reported_at_ingest_and_by_stats_with_the_fix(graph, settings, tmp_path):
    # KGAT-style ids: items 0 and 1 are entities 0 and 1 too, 7 heads a fact and is no item
    (tmp_path / "interactions.csv").write_text("user,item\nu1,0\nu2,1\n")
    (tmp_path / "kg.csv").write_text("head,relation,tail\n0,genre,5\n1,genre,5\n7,similar,0\n0,sequel,1\n")
    out = run_cli(settings, "ingest", "csv", str(tmp_path)).output
    assert "warning: 1 KG ids read as items name no item of the interactions, and 2 read as entities" in out
    assert "-o kg_ids=shared" in out
    assert graph_stats(graph)["kg_id_collisions"] == {"phantom_items": 1, "entity_item_ids": 2}
    stats = run_cli(settings, "stats").output
    assert "1 items nobody interacted with are KG heads or tails, and 2 entities have an item's id" in stats
    assert "-o kg_ids=shared" in stats

    graph.clear()
    report = json.loads(run_cli(settings, "ingest", "csv", str(tmp_path), "--json").stdout)
    assert report["kg_id_collisions"] == {"phantom_items": 1, "entity_item_ids": 2, "fix": KG_ID_FIX}

    graph.clear()
    out = run_cli(settings, "ingest", "csv", str(tmp_path), "-o", "kg_ids=shared").output
    assert "warning" not in out and graph_stats(graph)["kg_id_collisions"] is None
    graph.clear()
    assert json.loads(run_cli(settings, "ingest", "csv", str(tmp_path), "-o", "kg_ids=shared",
                              "--json").stdout)["kg_id_collisions"] is None
    assert graph_stats(graph)["nodes"]["Item"] == 2 and "kg ids:" not in run_cli(settings, "stats").output
