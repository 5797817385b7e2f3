"""A small graph with a stored train/test split, KG genres and friendships, and runs made of seeded random
embeddings (the serving tests must not depend on a trained model), plus the in-memory ranking they are checked
against."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import torch

from graphrec.db.connect import Graph
from graphrec.export import IdMaps, export
from graphrec.ingest import ingest
from graphrec.runs import Run, save_run
from loaders.records import Dataset, Interaction, Node, SocialEdge, Triple

GENRES = ["Rock", "Jazz", "Folk", "Metal"]


def make_dataset(n_users: int = 60, n_items: int = 150, seed: int = 3) -> Dataset:
    rng = np.random.default_rng(seed)
    users = [f"u{u}" for u in range(n_users)] + ["O'Brien \"quoted\""]
    items = [f"i{i}" for i in range(n_items)]
    inter = []
    for u in users:
        chosen = rng.choice(n_items, size=int(rng.integers(6, 15)), replace=False)
        for k, i in enumerate(chosen):
            inter.append(Interaction(u, items[i], weight=1.0, ts=k, split="test" if k < 3 else "train"))
    triples = [Triple(items[i], "has_genre", f"genre:{GENRES[i % len(GENRES)]}", "Item", "Entity") for i in range(n_items)]
    nodes = [Node("Entity", f"genre:{g}", {"name": g}, ("Genre",)) for g in GENRES]
    social = []
    for a in range(0, n_users - 1, 2):
        social += [SocialEdge(users[a], users[a + 1]), SocialEdge(users[a + 1], users[a])]
    return Dataset("serving-test", interactions=inter, triples=triples, social=social, nodes=nodes)


def random_run(runs_dir: Path, maps: IdMaps, seed: int, dim: int = 16, model: str = "random") -> Run:
    """Seeded random embeddings with spread-out norms (so inner product and cosine rankings differ)."""
    gen = torch.Generator().manual_seed(seed)
    n_u, n_i = len(maps.ids["user"]), len(maps.ids["item"])
    users = torch.randn(n_u, dim, generator=gen)
    items = torch.randn(n_i, dim, generator=gen) * (0.3 + 1.5 * torch.rand(n_i, 1, generator=gen))
    meta = {"id": f"{model}-{seed}-{uuid.uuid4().hex[:6]}", "model": model, "params": {"dim": dim, "seed": seed},
            "metrics": {"test": {"recall@20": 0.0}}, "counts": {"users": n_u, "items": n_i}}
    return save_run(runs_dir, meta, maps, {"user": users, "item": items})


def load_graph(graph: Graph, dataset: Dataset | None = None) -> tuple[Dataset, IdMaps]:
    dataset = dataset or make_dataset()
    ingest(graph, dataset)
    _, maps = export(graph)
    return dataset, maps


def seen(dataset: Dataset, splits: tuple[str, ...] | None = None) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for it in dataset.interactions:
        if splits is None or it.split in splits:
            out.setdefault(it.user, set()).add(it.item)
    return out


def model_top_k(run: Run, user: str, k: int, masked: set[str]) -> list[tuple[str, float]]:
    """The model's own top-k for ``user``: inner product with every item, ``masked`` items removed."""
    maps, emb = run.ids(), run.embeddings()
    scores = (emb["item"].double() @ emb["user"][maps.index["user"][user]].double()).numpy()
    order = sorted(range(len(scores)), key=lambda j: (-scores[j], maps.ids["item"][j]))
    out = [(maps.ids["item"][j], float(scores[j])) for j in order if maps.ids["item"][j] not in masked]
    return out[:k]
