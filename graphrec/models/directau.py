"""DirectAU: :class:`DirectAU` (its docstring gives the paper, defaults and deviations)."""

from __future__ import annotations

from torch import Tensor, nn

from graphrec.errors import ModelError
from graphrec.models.encoder import GraphEncoder
from graphrec.models.losses import alignment, uniformity
from graphrec.models.space import Range


class DirectAU(GraphEncoder):
    """DirectAU (Wang et al., KDD 2022): alignment + uniformity of normalised embeddings in place of BPR.

    Loss: alignment(u, i) + gamma · (uniformity(u) + uniformity(i)) / 2 over the batch's (user, positive item) pairs of
    L2-normalised representations (:func:`~graphrec.models.losses.alignment`,
    :func:`~graphrec.models.losses.uniformity`, t = 2); the batch's negatives are ignored. Encoder "mf" (the embeddings
    themselves, the paper's default) or "lightgcn" (layer mean over 0..num_layers). Scores are raw dot products of the
    un-normalised embeddings, as in THUwangcy/DirectAU.

    Defaults: THUwangcy/DirectAU recbole/properties/model/DirectAU.yaml: encoder MF, gamma 1, dim 64 (the authors tune
    gamma over 0.01..10 and weight decay over {0, 1e-8, 1e-6, 1e-4}); weight decay 1e-6 as RecBole-GNN's DirectAU.yaml;
    Xavier-normal initialisation as the authors'. ``num_layers`` (3, LightGCN's) is read by the "lightgcn" encoder only.
    SELFRec's DirectAU uses a LightGCN encoder with gamma 2: ``encoder="lightgcn", gamma=2``.

    Deviations: the authors' weight decay is Adam's coupled L2 on all parameters; here it is the identical penalty
    weight_decay / 2 · ||Θ||² in the loss (graphrec's one optimiser has no weight decay).
    """

    not_data_parallel = ("its uniformity term is over pairs of the batch's rows, so a shard would spread its own "
                         "rows only (gathering them across processes is not built)")

    search_space = {"gamma": (0.5, 1.0, 2.0, 5.0), "weight_decay": Range(1e-8, 1e-4, log=True)}  # graphrec tune

    def __init__(self, n_users: int, n_items: int, graph: Tensor | None = None, dim: int = 64, encoder: str = "mf",
                 num_layers: int = 3, gamma: float = 1.0, weight_decay: float = 1e-6):
        if encoder not in ("mf", "lightgcn"):
            raise ModelError(f"DirectAU: encoder must be 'mf' or 'lightgcn', got {encoder!r}")
        self.encoder = encoder
        super().__init__(n_users, n_items, graph, dim, num_layers if encoder == "lightgcn" else 0)
        self.encoder_layers = int(num_layers)
        self.gamma, self.weight_decay = float(gamma), float(weight_decay)
        nn.init.xavier_normal_(self.user.weight)  # the authors' initialisation
        nn.init.xavier_normal_(self.item.weight)

    def hparams(self) -> dict:
        return {"dim": self.dim, "encoder": self.encoder, "num_layers": self.encoder_layers, "gamma": self.gamma,
                "weight_decay": self.weight_decay}

    def loss(self, batch) -> Tensor:
        users, pos, _ = batch
        if self.encoder == "mf":
            u, i = self.user(users), self.item(pos)
        else:
            user_emb, item_emb = self()
            u, i = user_emb[users], item_emb[pos]
        parts = {"align": alignment(u, i), "uniform": self.gamma * (uniformity(u) + uniformity(i)) / 2}
        if self.weight_decay:
            parts["decay"] = self.weight_decay / 2 * sum(p.pow(2).sum() for p in self.parameters())
        return self.loss_parts(**parts)
