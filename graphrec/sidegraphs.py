"""The graphs beside the interactions: the social graph (user → user) and the knowledge graph (item/entity facts).

Models that use them (KGAT, the social recommenders, the all-graphs model) get a :class:`SideGraphs` next to the
training interactions. Every node has one *global* index, the same layout the propagation code uses and extends:
users ``0..U-1``, items ``U..U+I-1``, entities ``U+I..U+I+E-1``. KG facts are ``(head, relation, tail)`` columns
in that space with ``relation`` indexing ``relation_names`` (the names stored on the graph's KG edges).

The side graphs hold no test information: they come from the FOLLOWS and KG relationships, never from interactions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from graphrec.errors import ConfigError

NODE_ORDER = ("user", "item", "entity")


@dataclass(frozen=True)
class SideGraphs:
    n_users: int
    n_items: int
    n_entities: int = 0
    social: Tensor = field(default_factory=lambda: torch.empty(2, 0, dtype=torch.long))  # (2, S) user → user
    kg: Tensor = field(default_factory=lambda: torch.empty(3, 0, dtype=torch.long))  # (3, T) head, relation, tail
    relation_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        n = self.n_nodes
        if self.social.dim() != 2 or self.social.size(0) != 2:
            raise ConfigError(f"SideGraphs.social must be (2, S), got {tuple(self.social.shape)}")
        if self.kg.dim() != 2 or self.kg.size(0) != 3:
            raise ConfigError(f"SideGraphs.kg must be (3, T), got {tuple(self.kg.shape)}")
        if self.social.numel() and (int(self.social.min()) < 0 or int(self.social.max()) >= self.n_users):
            raise ConfigError(f"SideGraphs.social: user index out of range [0, {self.n_users})")
        if self.kg.numel():
            ends = self.kg[[0, 2]]
            if int(ends.min()) < self.n_users or int(ends.max()) >= n:
                raise ConfigError(f"SideGraphs.kg: heads and tails must be item or entity nodes "
                                  f"[{self.n_users}, {n})")
            if int(self.kg[1].min()) < 0 or int(self.kg[1].max()) >= len(self.relation_names):
                raise ConfigError(f"SideGraphs.kg: relation index out of range [0, {len(self.relation_names)})")

    @property
    def n_nodes(self) -> int:
        return self.n_users + self.n_items + self.n_entities

    @property
    def n_relations(self) -> int:
        return len(self.relation_names)

    @property
    def has_social(self) -> bool:
        return self.social.size(1) > 0

    @property
    def has_kg(self) -> bool:
        return self.kg.size(1) > 0

    @classmethod
    def from_hetero(cls, data) -> "SideGraphs":
        """From the export's HeteroData (see :mod:`graphrec.export`): FOLLOWS and every ``(…, 'kg', …)`` type."""
        n_users, n_items = int(data["user"].num_nodes), int(data["item"].num_nodes)
        n_entities = int(data["entity"].num_nodes or 0) if "entity" in data.node_types else 0
        offset = {"user": 0, "item": n_users, "entity": n_users + n_items}
        social = torch.empty(2, 0, dtype=torch.long)
        if ("user", "follows", "user") in data.edge_types:
            social = data["user", "follows", "user"].edge_index.long()
        parts = []
        for src, rel, dst in data.edge_types:
            if rel != "kg":
                continue
            store = data[src, rel, dst]
            if src == "user" or dst == "user":
                continue  # user attributes are not item knowledge; none of the loaders writes such facts
            ei = store.edge_index.long()
            parts.append(torch.stack([ei[0] + offset[src], store.relation.long(), ei[1] + offset[dst]]))
        kg = torch.cat(parts, 1) if parts else torch.empty(3, 0, dtype=torch.long)
        return cls(n_users, n_items, n_entities, social, kg, tuple(getattr(data, "relation_names", ())))

    def social_undirected(self) -> Tensor:
        """Friendships as a symmetric, de-duplicated edge list without self-loops (2, S') — trust read as a tie,
        as MHCN, SEPT and RecBole-GNN's social models do."""
        s = self.social
        s = s[:, s[0] != s[1]]
        both = torch.cat([s, s.flip(0)], 1)
        keys = torch.unique(both[0] * self.n_users + both[1])
        return torch.stack([keys // self.n_users, keys % self.n_users])

    def item_entities(self) -> tuple[Tensor, Tensor]:
        """Items' KG neighbours as CSR ``(indptr (n_items+1,), entity node ids)``: the tails of facts whose head
        is an item, and the heads of facts whose tail is an item (a genre → movie fact counts for the movie).
        Used by the KG diversity metrics."""
        head, _, tail = self.kg
        lo, hi = self.n_users, self.n_users + self.n_items
        items = torch.cat([head[(head >= lo) & (head < hi)], tail[(tail >= lo) & (tail < hi)]]) - lo
        other = torch.cat([tail[(head >= lo) & (head < hi)], head[(tail >= lo) & (tail < hi)]])
        keys = torch.unique(items * self.n_nodes + other)
        items, other = keys // self.n_nodes, keys % self.n_nodes
        indptr = torch.zeros(self.n_items + 1, dtype=torch.long)
        torch.cumsum(torch.bincount(items, minlength=self.n_items), 0, out=indptr[1:])
        return indptr, other

    def __repr__(self) -> str:
        return (f"SideGraphs(users={self.n_users}, items={self.n_items}, entities={self.n_entities}, "
                f"social={self.social.size(1)}, kg={self.kg.size(1)}, relations={self.n_relations})")
