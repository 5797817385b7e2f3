"""Pure loss functions shared by the models (tensor in, scalar tensor out)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def bpr_loss(pos_scores: Tensor, neg_scores: Tensor) -> Tensor:
    """Bayesian personalised ranking: mean of -log sigmoid(pos - neg), written as softplus for stability."""
    return F.softplus(neg_scores - pos_scores).mean()


def l2_reg(*ego: Tensor) -> Tensor:
    """LightGCN's regulariser: 1/2 * sum of squared norms of the batch's layer-0 (ego) embeddings, divided by the
    batch size (the rows of the first tensor). Multiply by the decay (e.g. 1e-4) in the model."""
    total = sum(e.pow(2).sum() for e in ego)
    return 0.5 * total / ego[0].size(0)


def info_nce(view1: Tensor, view2: Tensor, temperature: float) -> Tensor:
    """InfoNCE between two views of the same nodes (row i of each is a positive pair; other rows are negatives).
    Views are L2-normalised first, as in SGL/SimGCL."""
    view1, view2 = F.normalize(view1, dim=1), F.normalize(view2, dim=1)
    logits = view1 @ view2.t() / temperature
    return F.cross_entropy(logits, torch.arange(view1.size(0), device=view1.device))
