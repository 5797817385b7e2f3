"""The model registry: names → classes, ``build`` with checked hyper-parameters, and save/load of a trained model."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import torch
from torch import Tensor

from graphrec.errors import ModelError
from graphrec.models.base import Recommender
from graphrec.models.baselines import EASE, ItemKNN, LinkProp, Popularity
from graphrec.models.diffnet import DiffNet
from graphrec.models.directau import DirectAU
from graphrec.models.hybrid import FilterMix, Hybrid
from graphrec.models.ials import IALS
from graphrec.models.kgat import KGAT
from graphrec.models.lightgcl import LightGCL
from graphrec.models.lightgcn import LightGCN
from graphrec.models.ltgnn import LTGNN
from graphrec.models.mf import MF
from graphrec.models.mhcn import MHCN
from graphrec.models.ncl import NCL
from graphrec.models.ngcf import NGCF
from graphrec.models.sept import SEPT
from graphrec.models.sgl import SGL
from graphrec.models.simgcl import SimGCL
from graphrec.models.spectral import BSPM, GFCF, SGFCF, ChebyCF
from graphrec.models.turbocf import TurboCF
from graphrec.models.ultragcn import UltraGCN
from graphrec.models.unigcl import UniGCL
from graphrec.models.xsimgcl import XSimGCL
from graphrec.sidegraphs import SideGraphs

MODELS: dict[str, type[Recommender]] = {
    "mf": MF,
    "lightgcn": LightGCN,
    "ngcf": NGCF,
    # self-supervised graph CF on the LightGCN encoder (issue 7), and constraint-based UltraGCN
    "sgl": SGL,
    "simgcl": SimGCL,
    "xsimgcl": XSimGCL,
    "lightgcl": LightGCL,
    "ncl": NCL,
    "directau": DirectAU,
    "ultragcn": UltraGCN,
    # implicit one-layer-per-step propagation with sampled, variance-reduced neighbours: an epoch linear in the graph
    "ltgnn": LTGNN,
    # social recommenders: they read the FOLLOWS graph (as undirected ties) through side=
    "diffnet": DiffNet,
    "mhcn": MHCN,
    "sept": SEPT,
    # knowledge-graph attention over the collaborative knowledge graph
    "kgat": KGAT,
    # interactions + knowledge graph + social graph in one model (issue 8)
    "unigcl": UniGCL,
    # closed-form graph filters (issue 31): fitted once, no epochs (graphrec.closedfit)
    "gfcf": GFCF,
    "bspm": BSPM,
    "turbocf": TurboCF,
    "chebycf": ChebyCF,
    "sgfcf": SGFCF,
    # closed-form baselines every model must beat
    "popularity": Popularity,
    "itemknn": ItemKNN,
    "ease": EASE,
    "linkprop": LinkProp,
    # matrix factorisation by alternating least squares: closed-form sweeps, scored by embeddings
    "ials": IALS,
    # two closed-form models' per-user standardised scores, mixed by a weight chosen on the holdout
    "hybrid": Hybrid,
    # a closed-form model's scores and a trained model's, each scaled by one number, mixed: servable from the graph
    "mix": FilterMix,
}

SAVE_FORMAT = "graphrec.model/1"
_NOT_HPARAMS = {"self", "n_users", "n_items", "graph", "side"}


def model_class(name: str) -> type[Recommender]:
    try:
        return MODELS[name]
    except KeyError:
        raise ModelError(f"unknown model {name!r}; choose one of: {', '.join(sorted(MODELS))}") from None


def hparam_names(cls: type[Recommender]) -> list[str]:
    return [p for p in inspect.signature(cls.__init__).parameters if p not in _NOT_HPARAMS]


def build(name: str, n_users: int, n_items: int, graph: Tensor | None = None, seed: int | None = None,
          side: SideGraphs | None = None, **hparams) -> Recommender:
    """Build model ``name``. ``graph``: the training (user, item) pairs (2, E), needed by graph models.
    ``side``: the social and knowledge graphs (:class:`graphrec.sidegraphs.SideGraphs`), needed by the models whose
    ``needs_side`` names them. ``seed`` makes the initial weights reproducible without touching the caller's RNG."""
    cls = model_class(name)
    allowed = hparam_names(cls)
    for key, value in hparams.items():
        if key not in allowed:
            raise ModelError(f"{cls.__name__} has no hyper-parameter {key!r} (got {key}={value!r}); "
                             f"valid: {', '.join(allowed)}")
    kwargs = dict(hparams, graph=graph)
    if cls.needs_side:
        check_side(cls, side, n_users, n_items)
    if "side" in inspect.signature(cls.__init__).parameters:  # models that use side graphs when there are some
        kwargs["side"] = side
    if seed is None:
        return cls(n_users, n_items, **kwargs)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return cls(n_users, n_items, **kwargs)


def check_side(cls: type[Recommender], side: SideGraphs | None, n_users: int, n_items: int) -> None:
    """A clear error when a model's side graphs are missing or empty (say which edges to ingest)."""
    if side is None:
        raise ModelError(f"{cls.__name__} needs side= the graph's {' and '.join(cls.needs_side)} edges "
                         "(graphrec.sidegraphs.SideGraphs.from_hetero(export(...)))")
    if (side.n_users, side.n_items) != (n_users, n_items):
        raise ModelError(f"{cls.__name__}: side graphs are for {side.n_users} users x {side.n_items} items, "
                         f"the model for {n_users} x {n_items}")
    if "social" in cls.needs_side and not side.has_social:
        raise ModelError(f"{cls.__name__} needs social edges, and the graph has no FOLLOWS relationships: "
                         "ingest a dataset with a social graph (lastfm, diffnet, filmtrust, or csv with social)")
    if "kg" in cls.needs_side and not side.has_kg:
        raise ModelError(f"{cls.__name__} needs knowledge-graph facts, and the graph has none: ingest a dataset "
                         "with a KG (lastfm with kgcn_kg/, lightgcn with kg_final.txt, movielens genres)")


def model_name(model: Recommender) -> str:
    for name, cls in MODELS.items():
        if type(model) is cls:
            return name
    raise ModelError(f"{type(model).__name__} is not a registered model ({', '.join(sorted(MODELS))})")


def save_model(model: Recommender, path: str | os.PathLike, extra: dict | None = None) -> None:
    """Save weights + name + hyper-parameters (+ plain ``extra`` metadata) so :func:`load_model` can rebuild it.
    Written to a temporary file then renamed, so an interrupted save never leaves a truncated model."""
    path = Path(path)
    state = {
        "format": SAVE_FORMAT,
        "name": model_name(model),
        "n_users": model.n_users,
        "n_items": model.n_items,
        "hparams": model.hparams(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": extra or {},
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_model(path: str | os.PathLike, graph: Tensor | None = None, side: SideGraphs | None = None) -> Recommender:
    """Rebuild a model saved by :func:`save_model` (``weights_only=True``: no code runs from the file)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError) as exc:
        raise ModelError(f"cannot read model file {path}: {exc}") from None
    if not isinstance(state, dict) or state.get("format") != SAVE_FORMAT:
        raise ModelError(f"{path} is not a graphrec model file (expected format {SAVE_FORMAT!r})")
    model = build(state["name"], state["n_users"], state["n_items"], graph=graph, side=side, **state["hparams"])
    model.load_state_dict(state["state_dict"])
    return model


__all__ = ["MODELS", "Recommender", "MF", "LightGCN", "NGCF", "SGL", "SimGCL", "XSimGCL", "LightGCL", "NCL",
           "DirectAU", "UltraGCN", "UniGCL", "KGAT", "build", "model_class", "hparam_names",
           "save_model", "load_model", "model_name", "DiffNet", "MHCN", "SEPT", "GFCF", "BSPM", "TurboCF", "ChebyCF",
           "SGFCF", "Popularity", "ItemKNN", "EASE", "LinkProp", "Hybrid", "LTGNN"]
