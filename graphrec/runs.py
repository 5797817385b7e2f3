"""A training run on disk: what write-back and serving need, saved together so they map back exactly.

``<home>/runs/<run id>/`` holds

* ``run.json``: id, model name, hyper-parameters, training config, metrics (valid and test), data counts, split
  origin, best epoch, created_at (ISO 8601, UTC);
* ``ids.json``: the export's id maps (row i of an embedding matrix is business id ``ids[type][i]``);
* ``embeddings.pt``: ``{"user": (n_users, d), "item": (n_items, d)}`` float32 tensors, the final embeddings the model
  scores with (score = user · item);
* ``graphs.pt``: the graphs the model was trained on (train pairs, social and KG edges, relation names), so a
  saved model can be rebuilt (:meth:`Run.model`) for model-based explanations without a new export;
* ``best.pt`` (the model, :func:`graphrec.models.load_model`), ``metrics.jsonl`` and ``curves.png`` from training.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from graphrec.errors import NotFoundError
from graphrec.idmaps import IdMaps

if TYPE_CHECKING:  # torch is imported where a run's tensors are read: listing runs needs none
    import torch

    from graphrec.sidegraphs import SideGraphs

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def new_run_id(model: str) -> str:
    """``<model>-<UTC time>-<4 hex>``: sortable by time, unique enough, a safe identifier."""
    return f"{model}-{datetime.now(timezone.utc).strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


@dataclass
class Run:
    path: Path
    meta: dict

    @property
    def id(self) -> str:
        return self.meta["id"]

    def ids(self) -> IdMaps:
        return IdMaps.load(self.path / "ids.json")

    def embeddings(self) -> dict[str, torch.Tensor]:
        import torch

        return torch.load(self.path / "embeddings.pt", weights_only=True)

    def graphs(self) -> tuple[torch.Tensor, SideGraphs]:
        """The (2, E) training pairs and the side graphs the run was trained on."""
        path = self.path / "graphs.pt"
        if not path.is_file():
            raise NotFoundError(f"run {self.id} has no graphs.pt (trained before graphrec saved it): retrain it")
        import torch

        from graphrec.sidegraphs import SideGraphs

        g = torch.load(path, weights_only=True)
        side = SideGraphs(g["n_users"], g["n_items"], g["n_entities"], g["social"], g["kg"],
                          tuple(g["relation_names"]))
        return g["train"], side

    def model(self):
        """The best-validation model, rebuilt on the graphs it was trained on (eval mode)."""
        from graphrec.models import load_model

        if not (self.path / "best.pt").is_file():
            raise NotFoundError(f"run {self.id} has no best.pt model file")
        train, side = self.graphs()
        return load_model(self.path / "best.pt", graph=train, side=side).eval()


def save_graphs(path: str | Path, train: torch.Tensor, side: SideGraphs) -> None:
    """``graphs.pt`` of a run folder (see :meth:`Run.graphs`)."""
    import torch

    torch.save({"train": train.contiguous(), "n_users": side.n_users, "n_items": side.n_items,
                "n_entities": side.n_entities, "social": side.social.contiguous(), "kg": side.kg.contiguous(),
                "relation_names": list(side.relation_names)}, Path(path) / "graphs.pt")


def save_run(runs_dir: str | Path, meta: dict, ids: IdMaps, embeddings: dict[str, torch.Tensor]) -> Run:
    """Write ``run.json``, ``ids.json`` and ``embeddings.pt`` into ``runs_dir/<meta['id']>`` (created if needed)."""
    if not RUN_ID.match(meta["id"]):
        raise ValueError(f"run id {meta['id']!r} is not a safe identifier")
    for kind in ("user", "item"):
        if embeddings[kind].shape[0] != len(ids.ids[kind]):
            raise ValueError(f"{kind} embeddings have {embeddings[kind].shape[0]} rows for {len(ids.ids[kind])} ids")
    path = Path(runs_dir) / meta["id"]
    path.mkdir(parents=True, exist_ok=True)
    meta = {"created_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), **meta}
    ids.save(path / "ids.json")
    import torch

    torch.save({k: v.detach().to(torch.float32).contiguous() for k, v in embeddings.items()}, path / "embeddings.pt")
    (path / "run.json").write_text(json.dumps(meta, indent=2, default=str))
    return Run(path, meta)


def load_run(runs_dir: str | Path, run_id: str) -> Run:
    """The run ``run_id`` (or ``latest``) under ``runs_dir``."""
    if run_id == "latest":
        runs = list_runs(runs_dir)
        if not runs:
            raise NotFoundError(f"no runs in {runs_dir}: train one with `graphrec train`")
        return runs[-1]
    path = Path(runs_dir) / run_id
    if not RUN_ID.match(run_id) or not (path / "run.json").is_file():
        known = [r.id for r in list_runs(runs_dir)][-5:]
        raise NotFoundError(f"no run {run_id!r} in {runs_dir}; latest runs: {known or 'none'}")
    return Run(path, json.loads((path / "run.json").read_text()))


def list_runs(runs_dir: str | Path) -> list[Run]:
    """Every run under ``runs_dir``, oldest first."""
    runs = []
    for meta_file in Path(runs_dir).glob("*/run.json"):
        runs.append(Run(meta_file.parent, json.loads(meta_file.read_text())))
    return sorted(runs, key=lambda r: (r.meta.get("created_at", ""), r.id))
