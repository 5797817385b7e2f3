"""Export from the real server: ids round-trip exactly, splits are kept or made, the HeteroData validates."""

from __future__ import annotations

import numpy as np
import pytest

from graphrec.export import IdMaps, export
from graphrec.ingest import ingest
from loaders.records import Dataset, Interaction, SocialEdge, Triple

IDS = ["10", "9", "O'Brien", 'say "hi"', "ünï", "100"]


def _dataset(with_split: bool) -> Dataset:
    rng = np.random.default_rng(0)
    inter = []
    for u in IDS:
        for i in rng.choice(20, size=8, replace=False):
            split = ("train", "valid", "test")[int(i) % 3] if with_split else None
            inter.append(Interaction(u, f"item-{i}", weight=float(i), ts=int(i) * 10, split=split))
    triples = [Triple(f"item-{i}", "has_tag", f"tag{i % 4}", "Item", "Entity") for i in range(20)]
    triples.append(Triple("tag1", "broader", "tag0", "Entity", "Entity"))
    social = [SocialEdge("10", "9"), SocialEdge("9", "10"), SocialEdge("O'Brien", "ünï")]
    return Dataset("t", interactions=inter, triples=triples, social=social)


def test_ids_round_trip_exactly(graph, tmp_path):
    dataset = _dataset(with_split=True)
    ingest(graph, dataset)
    data, maps = export(graph)
    assert maps.ids["user"][:3] == ["9", "10", "100"], "numeric ids sort numerically, first"
    ei = data["user", "interacted", "item"].edge_index
    back = {(maps.ids["user"][u], maps.ids["item"][i]) for u, i in ei.t().tolist()}
    assert back == {(it.user, it.item) for it in dataset.interactions}

    maps.save(tmp_path / "ids.json")
    assert IdMaps.load(tmp_path / "ids.json").ids == maps.ids

    codes = {"train": 0, "valid": 1, "test": 2}
    rel = data["user", "interacted", "item"]
    by_pair = {(maps.ids["user"][u], maps.ids["item"][i]): (int(s), float(w), int(t)) for (u, i), s, w, t in
               zip(ei.t().tolist(), rel.split, rel.weight, rel.ts)}
    for it in dataset.interactions:
        assert by_pair[(it.user, it.item)] == (codes[it.split], it.weight, it.ts)
    assert data.split_origin == "stored"

    follows = {(maps.ids["user"][a], maps.ids["user"][b]) for a, b in data["user", "follows", "user"].edge_index.t().tolist()}
    assert follows == {(e.src, e.dst) for e in dataset.social}
    assert data.relation_names == ["broader", "has_tag"]
    assert data["item", "kg", "entity"].edge_index.shape[1] == 20
    assert data["entity", "kg", "entity"].edge_index.shape[1] == 1


def test_export_is_deterministic_and_splits_when_the_data_has_none(graph):
    ingest(graph, _dataset(with_split=False))
    a, _ = export(graph, seed=1)
    b, _ = export(graph, seed=1)
    c, _ = export(graph, seed=2)
    sa, sb, sc = (d["user", "interacted", "item"].split for d in (a, b, c))
    assert a.split_origin.startswith("random") and (sa == sb).all() and not (sa == sc).all()
    counts = np.bincount(sa.numpy(), minlength=3)
    assert counts[0] > counts[1] > 0 and counts[2] > 0


def test_temporal_split_puts_the_latest_last(graph):
    ingest(graph, _dataset(with_split=False))
    data, _ = export(graph, split="temporal")
    rel = data["user", "interacted", "item"]
    users = rel.edge_index[0]
    for u in users.unique():
        mine = users == u
        assert rel.ts[mine][rel.split[mine] == 2].min() >= rel.ts[mine][rel.split[mine] == 0].max()


def test_empty_graph_says_what_to_do(graph):
    from graphrec.errors import GraphrecError

    with pytest.raises(GraphrecError, match="ingest a dataset first"):
        export(graph)
