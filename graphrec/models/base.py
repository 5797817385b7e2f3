"""The contract every model honours.

* ``forward() -> (user_emb, item_emb)``: final embeddings of all users and items; a score is their dot product.
* ``loss(batch) -> Tensor``: ``batch`` is ``(users, pos_items, neg_items)``; the model adds its own regularisers.
  A loss of several terms returns ``self.loss_parts(name=term, ...)`` (their sum), so that training logs each
  weighted term's epoch mean beside the loss (a contrastive term that swamps BPR shows as BPR stuck at ln 2).
* ``score(users) -> (B, n_items)``.
* ``hparams() -> dict``: the constructor's hyper-parameters (ints/floats/bools), enough to rebuild the model.
Graph models get the training interactions as ``graph`` ((2, E) user, item rows) and keep Â as non-persistent
buffers: the graph is data, not weights, so it is not saved with the model. Models that read the social graph or the
knowledge graph name them in ``needs_side`` and take ``side`` (a :class:`graphrec.sidegraphs.SideGraphs`).
Closed-form models (``closed_form = True``: graph filters and the baselines, :mod:`graphrec.models.closed`) have no
loss and no epochs: :func:`graphrec.closedfit.fit_closed_form` fits them once. Where ``dot_product_scores`` is False,
``score(users)`` is the model's ranking and ``forward()`` only its low-rank part (or an empty pair); the rest is a sum
of item–item rows over the user's items (``item_rows``), which graphrec publish stores in the graph.
Data-parallel training (:mod:`graphrec.distributed`) splits each batch between processes and adds their gradients
weighted by each shard's share of the batch: the one-process gradient when the loss is a mean over the batch's triples
plus terms that do not depend on the batch. A model whose loss is not says why in ``not_data_parallel``, and is
refused with that reason.
A model whose step reads and moves only the batch's rows (``sparse_updates``: sparse embedding gradients) trains with
sparse (lazy) Adam, so a step costs nothing per untouched row.
"""

from __future__ import annotations

from torch import Tensor, nn

from graphrec.errors import ModelError
from graphrec.models.propagation import csr, normalized_adjacency


class Recommender(nn.Module):
    needs_graph = False
    needs_side: tuple[str, ...] = ()  # "social" and/or "kg": build() then passes side= (graphrec.sidegraphs)
    closed_form = False  # fitted once from the training interactions (no loss, no epochs)
    dot_product_scores = True  # score(users) == user_emb[users] @ item_emb.T for (user_emb, item_emb) = forward()
    not_data_parallel: str | None = None  # why the loss does not split over a batch's shards (see above), if not
    sparse_updates = False  # parameters get sparse gradients; the training loop then uses torch.optim.SparseAdam
    not_servable: str | None = None  # why graphrec publish cannot serve the model's scores from the graph, if not

    def __init__(self, n_users: int, n_items: int, graph: Tensor | None = None):
        super().__init__()
        if n_users < 1 or n_items < 1:
            raise ModelError(f"{type(self).__name__}: n_users and n_items must be >= 1, got {n_users}, {n_items}")
        self.n_users, self.n_items = int(n_users), int(n_items)
        if self.needs_graph:
            if graph is None:
                raise ModelError(f"{type(self).__name__} needs graph= the training (user, item) pairs as a (2, E) "
                                 "LongTensor (e.g. torch.stack(recdata.train.pairs()))")
            adj, edge_ids = normalized_adjacency(graph[0], graph[1], self.n_users, self.n_items,
                                                 return_edge_ids=True)
            self.register_buffer("adj_crow", adj.crow_indices(), persistent=False)
            self.register_buffer("adj_col", adj.col_indices(), persistent=False)
            self.register_buffer("adj_val", adj.values(), persistent=False)
            self.register_buffer("adj_edge_ids", edge_ids, persistent=False)
            self.n_edges = int(graph.size(1))

    def adjacency(self, values: Tensor | None = None) -> Tensor:
        """Â as a CSR tensor (built from buffers, so it follows ``.to(device)``); ``values`` replaces its values."""
        n = self.n_users + self.n_items
        return csr(self.adj_crow, self.adj_col, self.adj_val if values is None else values, n)

    def loss_parts(self, **parts: Tensor) -> Tensor:
        """The sum of the loss's named, already weighted terms; their detached values are kept for the training
        loop (``last_loss_parts``), which averages them over the epoch into the record's ``loss_parts``."""
        self.last_loss_parts = {name: value.detach() for name, value in parts.items()}
        return sum(parts.values())

    def score(self, users: Tensor) -> Tensor:
        user_emb, item_emb = self()
        return user_emb[users] @ item_emb.t()

    def hparams(self) -> dict:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"n_users={self.n_users}, n_items={self.n_items}, " + \
            ", ".join(f"{k}={v}" for k, v in self.hparams().items())
