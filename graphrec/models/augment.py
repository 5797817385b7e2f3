"""Graph and embedding augmentations shared by the contrastive models (SGL, SimGCL, XSimGCL).

Every random draw takes an explicit ``generator`` (``None``: torch's global RNG, which the training loop seeds per
epoch), so views are reproducible. Graph views are rebuilt as a fresh Â = D^-1/2 A D^-1/2 of the kept edges, i.e.
re-normalised with the degrees of the view, as in SGL's reference code (wujcan/SGL-Torch ``create_adj_mat``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from graphrec.errors import ModelError
from graphrec.models.propagation import normalized_adjacency


def _check_ratio(name: str, ratio: float) -> None:
    if not 0.0 <= ratio < 1.0:
        raise ModelError(f"{name}: the drop ratio must be in [0, 1), got {ratio}")


def edge_dropout(pairs: Tensor, n_users: int, n_items: int, ratio: float,
                 generator: torch.Generator | None = None) -> Tensor:
    """SGL's ED view: keep ``int(E * (1 - ratio))`` of the (user, item) edges, drawn without replacement, and
    re-normalise. Both directions of an edge are kept or dropped together, so the view stays symmetric."""
    _check_ratio("edge_dropout", ratio)
    n_edges = pairs.size(1)
    keep = torch.randperm(n_edges, generator=generator, device=pairs.device)[:int(n_edges * (1 - ratio))]
    kept = pairs[:, keep.sort().values]
    return normalized_adjacency(kept[0], kept[1], n_users, n_items)


def node_dropout(pairs: Tensor, n_users: int, n_items: int, ratio: float,
                 generator: torch.Generator | None = None) -> Tensor:
    """SGL's ND view: drop ``int(n_users * ratio)`` users and ``int(n_items * ratio)`` items with all their edges,
    and re-normalise the rest."""
    _check_ratio("node_dropout", ratio)
    user_kept = torch.ones(n_users, dtype=torch.bool, device=pairs.device)
    item_kept = torch.ones(n_items, dtype=torch.bool, device=pairs.device)
    user_kept[torch.randperm(n_users, generator=generator, device=pairs.device)[:int(n_users * ratio)]] = False
    item_kept[torch.randperm(n_items, generator=generator, device=pairs.device)[:int(n_items * ratio)]] = False
    kept = pairs[:, user_kept[pairs[0]] & item_kept[pairs[1]]]
    return normalized_adjacency(kept[0], kept[1], n_users, n_items)


def sgl_views(aug_type: str, pairs: Tensor, n_users: int, n_items: int, ratio: float, num_layers: int,
              generator: torch.Generator | None = None):
    """One SGL view: a CSR matrix for "nd"/"ed" (the same graph at every layer) or, for "rw", a list with an
    independent edge-dropout graph per layer (SGL's random walk)."""
    if aug_type == "nd":
        return node_dropout(pairs, n_users, n_items, ratio, generator)
    if aug_type == "ed":
        return edge_dropout(pairs, n_users, n_items, ratio, generator)
    if aug_type == "rw":
        return [edge_dropout(pairs, n_users, n_items, ratio, generator) for _ in range(num_layers)]
    raise ModelError(f"SGL: aug_type must be one of 'nd', 'ed', 'rw', got {aug_type!r}")


def uniform_noise(x: Tensor, eps: float, generator: torch.Generator | None = None) -> Tensor:
    """SimGCL's noise Δ = eps * sign(x) ⊙ normalize(U(0, 1)): each row has L2 norm ``eps`` and every coordinate
    has the sign of ``x``, so the perturbed vector stays in the same hyper-octant (SimGCL eq. 7)."""
    noise = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    return torch.sign(x) * F.normalize(noise, dim=-1) * eps
