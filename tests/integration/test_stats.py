"""`graphrec stats` on the real server: what caps any model on a stored split is reported, counted exactly."""

from __future__ import annotations

from graphrec.ingest import ingest
from graphrec.stats import graph_stats
from loaders.records import Dataset, Interaction
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
