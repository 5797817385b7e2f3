"""KGAT: :class:`KGAT` (its docstring gives the paper, defaults and deviations)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphrec.errors import ModelError
from graphrec.models.base import Recommender
from graphrec.models.kgat_graph import collaborative_kg, project, row_softmax, transr_loss
from graphrec.models.losses import bpr_loss, l2_reg
from graphrec.models.propagation import csr, spmm
from graphrec.sidegraphs import SideGraphs
from graphrec.models.space import Range

_NEG_REDRAWS = 10
_ATTENTION_CHUNK = 1 << 18  # triples scored at once: bounds the attention pass's memory on large graphs


class KGAT(Recommender):
    """KGAT (Wang et al., KDD 2019): attentive propagation over the collaborative knowledge graph.

    The CKG (:mod:`graphrec.models.kgat_graph`) joins the training interactions (relation "interact"), the KG facts and
    the inverse of every fact. Each layer l aggregates a node's neighbourhood with relation-aware attention

        π(h,r,t) = (W_r e_t)ᵀ tanh(W_r e_h + e_r), softmax over h's neighbours;   e_N(h) = Σ_t π(h,r,t) e_t
        e_h ← LeakyReLU(W1 (e_h + e_N(h))) + LeakyReLU(W2 (e_h ⊙ e_N(h)))          (bi-interaction, eq. 8)

    with message dropout; the representation is [e⁰ ‖ norm(e¹) ‖ … ‖ norm(eᴸ)] (per-layer L2 normalisation as in the
    authors' code) and score = user · item. Loss: BPR + L2 on the batch's layer-0 embeddings (the authors put the L2 on
    the concatenation, whose normalised layers have constant norm: the same gradient), plus TransR on CKG triples
    (:func:`~graphrec.models.kgat_graph.transr_loss`); ``kg_batch_size=0`` drops TransR (the paper's "w/o KGE"
    ablation).

    Defaults: the authors' README runs: 64-d embeddings and TransR space, layers 64, 32, 16 (``halve_dims``), message
    dropout 0.1, both L2 weights 1e-5, KG batches of 2048. LeakyReLU slope 0.2 and the initialisation as in their
    TensorFlow code (xiangwang1223/knowledge_graph_attention_network).

    Deviations: from the paper and that code, and why:

    * One loop (graphrec.train), so no separate CF and KG phases with an Adam each: every step adds the TransR loss of
      ``kg_batch_size`` CKG triples (heads uniform, then one of the head's triples, as the authors sample), drawn from
      torch's global RNG, which the loop seeds per epoch, to the BPR loss, under one Adam. An epoch then sees ``steps ×
      kg_batch_size`` triples instead of the whole CKG once.
    * Attention is recomputed without gradient in ``on_epoch_start``, i.e. from the weights at the end of the previous
      epoch as in the authors' code; their first epoch propagates over a row-normalised adjacency instead, ours over the
      attention of the initial weights. The attention is a persistent buffer: a saved model scores exactly as it did at
      its best epoch.
    * Corrupted tails are uniform over all nodes and redrawn while they form a true fact, at most ``_NEG_REDRAWS`` times
      (the authors redraw until they do not).
    * No pretrained MF initialisation (the README runs pass ``--pretrain -1``); no node dropout (parsed but unused
      there).
    """

    needs_graph = True
    needs_side = ("kg",)

    search_space = {"num_layers": (1, 2, 3), "message_dropout": (0.0, 0.1, 0.3), "reg": Range(1e-6, 1e-3, log=True)}  # graphrec tune

    def __init__(self, n_users: int, n_items: int, graph: Tensor | None = None, side: SideGraphs | None = None,
                 dim: int = 64, relation_dim: int = 64, num_layers: int = 3, halve_dims: bool = True,
                 message_dropout: float = 0.1, reg: float = 1e-5, kg_reg: float = 1e-5, kg_batch_size: int = 2048):
        super().__init__(n_users, n_items, graph)
        self.dim, self.relation_dim, self.num_layers = int(dim), int(relation_dim), int(num_layers)
        self.halve_dims, self.message_dropout = bool(halve_dims), float(message_dropout)
        self.reg, self.kg_reg, self.kg_batch_size = float(reg), float(kg_reg), int(kg_batch_size)
        ckg = collaborative_kg(graph, side)
        self.n_nodes, self.base_names = ckg.n_nodes, ckg.base_names
        for name in ("head", "relation", "tail", "key", "crow", "transpose", "transpose_crow"):
            self.register_buffer(f"ckg_{name}", getattr(ckg, name), persistent=False)
        self.register_buffer("ckg_heads", torch.nonzero(ckg.crow[1:] > ckg.crow[:-1]).flatten(), persistent=False)
        # The attention matrix's CSR indices, int32 when they fit: torch's CPU spmm is ~15% faster with them.
        index = torch.int32 if ckg.key.numel() < 2**31 - 1 else torch.long
        for name, value in (("crow", ckg.crow), ("col", ckg.tail), ("t_crow", ckg.transpose_crow),
                            ("t_col", ckg.head[ckg.transpose])):
            self.register_buffer(f"att_{name}", value.to(index), persistent=False)
        self.embedding = nn.Embedding(self.n_nodes, self.dim)  # users, items, entities: the CKG's node order
        self.relation = nn.Embedding(ckg.n_relations, self.relation_dim)
        self.transfer = nn.Parameter(torch.empty(ckg.n_relations, self.dim, self.relation_dim))  # TransR's W_r
        dims = [self.dim] + [self.dim >> l if self.halve_dims else self.dim for l in range(self.num_layers)]
        if self.kg_batch_size < 0:
            raise ModelError(f"KGAT: kg_batch_size must be >= 0 (0: no TransR loss), got {kg_batch_size}")
        if min(dims) < 1:
            raise ModelError(f"KGAT: dim={dim} cannot be halved over num_layers={num_layers} (halve_dims=True)")
        self.w1 = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims, dims[1:]))
        self.w2 = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims, dims[1:]))
        self.register_buffer("attention", torch.zeros(ckg.key.numel()))  # persistent: see the module docstring
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # As the authors' TF code: Glorot-uniform per variable, so users and items+entities (two variables there)
        # get different scales, and W_r's fans count every relation; biases are Glorot on a (1, out) variable.
        nn.init.xavier_uniform_(self.embedding.weight[:self.n_users])
        nn.init.xavier_uniform_(self.embedding.weight[self.n_users:])
        nn.init.xavier_uniform_(self.relation.weight)
        n_rel = self.transfer.size(0)
        bound = math.sqrt(6.0 / (n_rel * (self.dim + self.relation_dim)))
        nn.init.uniform_(self.transfer, -bound, bound)
        for lin in [*self.w1, *self.w2]:
            nn.init.xavier_uniform_(lin.weight)
            bound = math.sqrt(6.0 / (1 + lin.out_features))
            nn.init.uniform_(lin.bias, -bound, bound)
        with torch.no_grad():
            self.attention.copy_(self.compute_attention())

    def hparams(self) -> dict:
        return {"dim": self.dim, "relation_dim": self.relation_dim, "num_layers": self.num_layers,
                "halve_dims": self.halve_dims, "message_dropout": self.message_dropout, "reg": self.reg,
                "kg_reg": self.kg_reg, "kg_batch_size": self.kg_batch_size}

    @torch.no_grad()
    def compute_attention(self) -> Tensor:
        """π(h,r,t) of every CKG triple from the current weights, softmax-normalised over each head's triples."""
        e = self.embedding.weight
        scores = []
        for start in range(0, self.ckg_key.numel(), _ATTENTION_CHUNK):
            h, r, t = (x[start:start + _ATTENTION_CHUNK] for x in (self.ckg_head, self.ckg_relation, self.ckg_tail))
            proj_h, proj_t = project(torch.cat([e[h], e[t]]), r.repeat(2), self.transfer).split(h.numel())
            scores.append((proj_t * torch.tanh(proj_h + self.relation.weight[r])).sum(1))
        return row_softmax(torch.cat(scores), self.ckg_head, self.n_nodes)

    def on_epoch_start(self, generator: torch.Generator) -> None:
        self.attention.copy_(self.compute_attention())

    def attention_matrices(self) -> tuple[Tensor, Tensor]:
        """The attention as an (N, N) CSR matrix (row h: h's neighbours) and its transpose."""
        att = csr(self.att_crow, self.att_col, self.attention, self.n_nodes)
        att_t = csr(self.att_t_crow, self.att_t_col, self.attention[self.ckg_transpose], self.n_nodes)
        return att, att_t

    def representations(self, nodes: Tensor | None = None) -> Tensor:
        """[e⁰ ‖ norm(e¹) ‖ … ‖ norm(eᴸ)] of the CKG nodes ``nodes`` (default: all, users, items, entities). Every
        layer propagates over the whole graph; only the rows asked for are normalised and concatenated."""
        att, att_t = self.attention_matrices()
        h = self.embedding.weight
        rows = (lambda x: x) if nodes is None else (lambda x: x[nodes])
        outs = [rows(h)]
        for w1, w2 in zip(self.w1, self.w2):
            neighbours = spmm(att, att_t, h)
            h = F.leaky_relu(w1(h + neighbours), 0.2) + F.leaky_relu(w2(h * neighbours), 0.2)
            h = F.dropout(h, p=self.message_dropout, training=self.training)
            outs.append(F.normalize(rows(h), dim=1))
        return torch.cat(outs, dim=1)

    def forward(self) -> tuple[Tensor, Tensor]:
        out = self.representations()
        return out[:self.n_users], out[self.n_users:self.n_users + self.n_items]

    def sample_kg(self, n: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``n`` (head, relation, tail, corrupted tail) from the CKG, from torch's global RNG."""
        heads = self.ckg_heads[torch.randint(self.ckg_heads.numel(), (n,), device=self.ckg_heads.device)]
        first, degree = self.ckg_crow[heads], self.ckg_crow[heads + 1] - self.ckg_crow[heads]
        triple = first + (torch.rand(n, device=heads.device) * degree).long().clamp_(max=degree - 1)
        relation, tail = self.ckg_relation[triple], self.ckg_tail[triple]
        corrupt = torch.randint(self.n_nodes, (n,), device=heads.device)
        for _ in range(_NEG_REDRAWS):
            key = (heads * self.n_nodes + corrupt) * self.relation.num_embeddings + relation
            pos = torch.searchsorted(self.ckg_key, key).clamp_(max=self.ckg_key.numel() - 1)
            true = self.ckg_key[pos] == key
            if not bool(true.any()):
                break
            corrupt[true] = torch.randint(self.n_nodes, (int(true.sum()),), device=heads.device)
        return heads, relation, tail, corrupt

    def kg_loss(self, heads: Tensor, relations: Tensor, tails: Tensor, corrupt: Tensor,
                nodes: Tensor | None = None) -> Tensor:
        """TransR loss of the triples; ``nodes``: the rows of the embedding table for ``cat([heads, tails,
        corrupt])`` when the caller has them (one gather for the whole step: each gather's backward fills a
        full-size zero gradient)."""
        n = heads.numel()
        if nodes is None:
            nodes = self.embedding.weight[torch.cat([heads, tails, corrupt])]
        h, t, t_neg = project(nodes, relations.repeat(3), self.transfer).split(n)
        return transr_loss(h, self.relation(relations), t, t_neg, self.kg_reg)

    def loss(self, batch) -> Tensor:
        users, pos, neg = batch
        cf_nodes = torch.cat([users, pos + self.n_users, neg + self.n_users])
        u, p, n = self.representations(cf_nodes).split(users.numel())
        cf = bpr_loss((u * p).sum(1), (u * n).sum(1))
        if self.kg_batch_size == 0:  # the paper's "w/o KGE" ablation
            return self.loss_parts(cf=cf, reg=self.reg * l2_reg(*self.embedding.weight[cf_nodes].split(users.numel())))
        kg_triples = self.sample_kg(self.kg_batch_size)
        ego = self.embedding.weight[torch.cat([cf_nodes, *kg_triples[:1], *kg_triples[2:]])]
        return self.loss_parts(cf=cf, reg=self.reg * l2_reg(*ego[:cf_nodes.numel()].split(users.numel())),
                               kg=self.kg_loss(*kg_triples, nodes=ego[cf_nodes.numel():]))
