"""`graphrec recommend --explain` on a served KGAT run: attention paths next to the graph-pattern explanations."""

from __future__ import annotations

import json

from graphrec.runs import list_runs
from tests.integration.cli_helpers import run_cli
from tests.integration.serving_data import load_graph


def test_recommend_explain_shows_kgat_attention_paths(graph, settings):
    load_graph(graph)
    run_cli(settings, "train", "--model", "kgat", "--dim", "16", "--epochs", "2", "--batch-size", "512",
         "--threads", "1", "--hp", "kg_batch_size=256")  # trains and serves the run
    run = list_runs(settings.runs_dir)[-1]
    ids = run.ids()

    rows = json.loads(run_cli(settings, "recommend", "--user", "u1", "-k", "5", "--explain", "--json").stdout)
    assert all(r["run"] == run.id and "via_kg" in r and "via_attention" in r for r in rows)
    for row in rows:
        for path in row["via_attention"]:
            assert path["nodes"][0] == ["user", "u1"] and path["nodes"][-1] == ["item", row["item"]]
            assert all(node_id in ids.index[kind] for kind, node_id in path["nodes"])
            assert "has_genre" in path["relations"] and 0 < path["score"] <= 1
    # Item i has genre i % 4 (serving_data): each of u1's training items of a row's genre is one 3-hop KG path.
    train, _ = run.graphs()
    liked = [int(ids.ids["item"][i][1:]) for i in train[1, train[0] == ids.index["user"]["u1"]].tolist()]
    for row in rows:
        same_genre = sum(i % 4 == int(row["item"][1:]) % 4 for i in liked)
        assert len(row["via_attention"]) == min(3, same_genre)
    assert any(row["via_attention"] for row in rows)
    row = next(row for row in rows if row["via_attention"])
    first = row["via_attention"][0]
    assert first["path"].startswith("u1 -[interact]-> i") and first["path"].endswith(f"<-[has_genre]- {row['item']}")

    text = run_cli(settings, "recommend", "--user", "u1", "-k", "5", "--explain").stdout
    assert text.count("attention ") == sum(len(row["via_attention"]) for row in rows)
    assert f"attention {first['score']:.3g}: {first['path']}" in text
