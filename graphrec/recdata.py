"""The in-memory interaction data every model trains and is evaluated on.

``RecData`` holds user→item interactions per split in CSR form (``indptr``/``indices``, items sorted within a user):
training needs the (user, item) pairs, evaluation needs per-user item sets for masking and hit tests, and both are
one cheap view of CSR; each split may also carry its interactions' weights, aligned with that order (the "weighted"
BPR sampler draws by them). Two constructors: :meth:`RecData.from_hetero` (the export's ``HeteroData`` contract) and
:meth:`RecData.from_pairs`. :func:`holdout` carves a seeded validation split out of train when a dataset ships none;
:meth:`RecData.without_valid` folds validation back into train for a run that does not validate.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor

from graphrec.errors import ConfigError, InputError
from graphrec.sidegraphs import SideGraphs

EDGE_TYPE = ("user", "interacted", "item")
SPLIT_CODES = {"train": 0, "valid": 1, "test": 2}


@dataclass(frozen=True)
class UserItems:
    """User→items in CSR: items of user ``u`` are ``indices[indptr[u]:indptr[u+1]]``, sorted, no duplicates.
    ``weights`` (float32, NaN where the graph gave none), when present, is each stored interaction's weight, aligned
    with ``indices``; None when the interactions carry no weights."""

    indptr: Tensor  # (n_users + 1,) int64
    indices: Tensor  # (nnz,) int64
    weights: Tensor | None = None  # (nnz,) float32

    @classmethod
    def from_pairs(cls, users: Tensor, items: Tensor, n_users: int, n_items: int,
                   weights: Tensor | None = None) -> "UserItems":
        """Duplicate (user, item) pairs become one; their weights are summed (an absent one counting 1), as the
        export merges several interaction types joining the same user and item."""
        users = torch.as_tensor(users, dtype=torch.long).reshape(-1)
        items = torch.as_tensor(items, dtype=torch.long).reshape(-1)
        if users.numel() != items.numel():
            raise ConfigError(f"UserItems.from_pairs: users has {users.numel()} entries but items has {items.numel()}")
        if weights is not None:
            weights = torch.as_tensor(weights, dtype=torch.float32).reshape(-1)
            if weights.numel() != users.numel():
                raise ConfigError(f"UserItems.from_pairs: weights has {weights.numel()} entries for "
                                  f"{users.numel()} interactions")
        if users.numel():
            if int(users.min()) < 0 or int(users.max()) >= n_users:
                raise ConfigError(f"UserItems.from_pairs: user index out of range [0, {n_users}) "
                                  f"(found {int(users.min())}..{int(users.max())})")
            if int(items.min()) < 0 or int(items.max()) >= n_items:
                raise ConfigError(f"UserItems.from_pairs: item index out of range [0, {n_items}) "
                                  f"(found {int(items.min())}..{int(items.max())})")
        # Sorting the combined key orders by user then item and lets unique() drop duplicate interactions.
        keys = users * n_items + items
        if weights is None:
            return cls.from_keys(torch.unique(keys), n_users, n_items)
        keys, weights = _merge_duplicates(keys, weights)
        return cls.from_keys(keys, n_users, n_items, weights)

    @classmethod
    def from_keys(cls, keys: Tensor, n_users: int, n_items: int, weights: Tensor | None = None) -> "UserItems":
        """From sorted unique ``user * n_items + item`` keys (and their weights, in the same order)."""
        users = keys // n_items
        counts = torch.bincount(users, minlength=n_users)
        indptr = torch.zeros(n_users + 1, dtype=torch.long)
        torch.cumsum(counts, 0, out=indptr[1:])
        return cls(indptr, keys % n_items, weights)

    @property
    def nnz(self) -> int:
        return int(self.indices.numel())

    def counts(self) -> Tensor:
        return self.indptr[1:] - self.indptr[:-1]

    def users(self) -> Tensor:
        """The user of every stored interaction, aligned with ``indices``."""
        return torch.repeat_interleave(torch.arange(self.indptr.numel() - 1), self.counts())

    def pairs(self) -> tuple[Tensor, Tensor]:
        return self.users(), self.indices

    def keys(self, n_items: int) -> Tensor:
        """Sorted ``user * n_items + item`` keys: membership tests become one ``searchsorted``."""
        return self.users() * n_items + self.indices


def _merge_duplicates(keys: Tensor, weights: Tensor) -> tuple[Tensor, Tensor]:
    """Sorted unique keys and one weight each: a key met once keeps its weight (NaN included), a repeated one gets
    the sum of its weights with NaN counting 1."""
    unique, inverse, counts = torch.unique(keys, return_inverse=True, return_counts=True)
    once = torch.empty(unique.numel(), dtype=torch.float32).scatter_(0, inverse, weights)
    if bool((counts == 1).all()):
        return unique, once
    summed = torch.zeros(unique.numel(), dtype=torch.float64).index_add_(0, inverse,
                                                                         torch.nan_to_num(weights.double(), nan=1.0))
    return unique, torch.where(counts > 1, summed.float(), once)


def contains(sorted_keys: Tensor, keys: Tensor) -> Tensor:
    """Boolean mask: which of ``keys`` occur in ``sorted_keys`` (vectorised membership test)."""
    if sorted_keys.numel() == 0:
        return torch.zeros(keys.shape, dtype=torch.bool)
    pos = torch.searchsorted(sorted_keys, keys).clamp_(max=sorted_keys.numel() - 1)
    return sorted_keys[pos] == keys


@dataclass(frozen=True)
class RecData:
    """Users × items interactions split into train / valid / test (valid and test may be empty)."""

    n_users: int
    n_items: int
    train: UserItems
    valid: UserItems
    test: UserItems
    # Each item's knowledge-graph neighbours as CSR (indptr (n_items+1,), neighbour ids), for the KG diversity
    # metrics; None when the graph has no KG (see SideGraphs.item_entities).
    item_entities: tuple[Tensor, Tensor] | None = None

    @classmethod
    def from_pairs(cls, n_users: int, n_items: int, train, valid=None, test=None,
                   weights: tuple | None = None) -> "RecData":
        """Each split is a (2, E) LongTensor of (user, item) rows, a (users, items) pair, or ``None`` (empty).
        ``weights``: the (E,) weights of each split's rows, (train, valid, test), or None (unweighted)."""

        def build(name, split, split_weights) -> UserItems:
            if split is None:
                split = torch.empty(2, 0, dtype=torch.long)
                split_weights = None if split_weights is None else torch.empty(0)
            users, items = split[0], split[1]
            try:
                return UserItems.from_pairs(users, items, n_users, n_items, split_weights)
            except ConfigError as exc:
                raise ConfigError(f"RecData.from_pairs: split {name!r}: {exc}") from None

        if weights is not None and len(weights) != 3:
            raise ConfigError(f"RecData.from_pairs: weights must be (train, valid, test), got {len(weights)} entries")
        weights = weights or (None, None, None)
        return cls(n_users, n_items, *(build(name, split, w) for name, split, w in
                                       zip(("train", "valid", "test"), (train, valid, test), weights)))

    @classmethod
    def from_hetero(cls, data, edge_type: tuple[str, str, str] = EDGE_TYPE) -> "RecData":
        """From the export's ``HeteroData``: ``data[edge_type].edge_index`` (2, E) int64 and ``.split`` (E,) with
        0=train, 1=valid, 2=test (no ``split`` means every edge is train). ``weight`` (E,) float, NaN where absent,
        travels with each split (the "weighted" sampler reads it); all NaN or missing: the data carries no weights."""
        src, _, dst = edge_type
        if edge_type not in data.edge_types:
            raise InputError("<HeteroData>", f"no edge type {edge_type}; found {data.edge_types}")
        store = data[edge_type]
        n_users, n_items = data[src].num_nodes, data[dst].num_nodes
        if n_users is None or n_items is None:
            raise InputError("<HeteroData>", f"node counts unknown for {src!r}/{dst!r}: set num_nodes on both")
        edge_index = store.edge_index
        if edge_index.dim() != 2 or edge_index.size(0) != 2:
            raise InputError("<HeteroData>", f"{edge_type} edge_index must be (2, E), found {tuple(edge_index.shape)}")
        split = getattr(store, "split", None)
        if split is None:
            split = torch.zeros(edge_index.size(1), dtype=torch.long)
        split = split.reshape(-1).long()
        if split.numel() != edge_index.size(1):
            raise InputError("<HeteroData>", f"{edge_type} split has {split.numel()} entries for "
                                             f"{edge_index.size(1)} edges")
        bad = ~((split >= 0) & (split <= 2))
        if bool(bad.any()):
            raise InputError("<HeteroData>", f"{edge_type} split codes must be 0/1/2, found {int(split[bad][0])}")
        edge_index = edge_index.long()
        parts = [edge_index[:, split == code] for code in (0, 1, 2)]
        weight = getattr(store, "weight", None)
        weights = None
        if weight is not None:
            weight = weight.reshape(-1).float()
            if weight.numel() != edge_index.size(1):
                raise InputError("<HeteroData>", f"{edge_type} weight has {weight.numel()} entries for "
                                                 f"{edge_index.size(1)} edges")
            if not bool(torch.isnan(weight).all()):
                weights = tuple(weight[split == code] for code in (0, 1, 2))
        item_entities = None
        if edge_type == EDGE_TYPE and any(rel == "kg" for _, rel, _ in data.edge_types):
            item_entities = SideGraphs.from_hetero(data).item_entities()
        return replace(cls.from_pairs(int(n_users), int(n_items), *parts, weights=weights),
                       item_entities=item_entities)

    def split(self, name: str) -> UserItems:
        if name not in SPLIT_CODES:
            raise ConfigError(f"RecData.split: split must be one of {list(SPLIT_CODES)}, got {name!r}")
        return getattr(self, name)

    def item_popularity(self) -> Tensor:
        """Training interactions per item (n_items,)."""
        return torch.bincount(self.train.indices, minlength=self.n_items)

    def with_holdout(self, fraction: float, seed: int) -> "RecData":
        """A copy whose valid split is carved out of train by :func:`holdout` (for data that ships train/test only)."""
        if self.valid.nnz:
            raise ConfigError("RecData.with_holdout: this data already has a valid split "
                              f"({self.valid.nnz} interactions); use it instead of carving another")
        train, valid = holdout(self.train, fraction, seed, n_items=self.n_items)
        return replace(self, train=train, valid=valid)

    def without_valid(self) -> "RecData":
        """A copy with the valid split folded into train, for a run that does not validate (a fixed number of epochs
        on all non-test data, as the papers train). Test is untouched and still masked by everything trained on, so its
        accuracy compares with validated runs' (popularity-based measures now count the valid interactions too)."""
        if not self.valid.nnz:
            return self
        keys = torch.cat([self.train.keys(self.n_items), self.valid.keys(self.n_items)])
        empty = UserItems.from_keys(torch.empty(0, dtype=torch.long), self.n_users, self.n_items)
        if self.train.weights is None and self.valid.weights is None:
            train = UserItems.from_keys(torch.unique(keys), self.n_users, self.n_items)
        else:
            weights = torch.cat([_weights_or_nan(self.train), _weights_or_nan(self.valid)])
            keys, weights = _merge_duplicates(keys, weights)
            train = UserItems.from_keys(keys, self.n_users, self.n_items, weights)
        return replace(self, train=train, valid=empty)

    def __repr__(self) -> str:
        return (f"RecData(n_users={self.n_users}, n_items={self.n_items}, train={self.train.nnz}, "
                f"valid={self.valid.nnz}, test={self.test.nnz})")


def _weights_or_nan(split: UserItems) -> Tensor:
    return split.weights if split.weights is not None else torch.full((split.nnz,), float("nan"))


def holdout(train: UserItems, fraction: float, seed: int, n_items: int | None = None) -> tuple[UserItems, UserItems]:
    """Seeded per-user holdout: ``round(fraction * n_u)`` of each user's training items go to validation, but every
    user keeps at least one training item (a user with one interaction keeps it). Returns (train, valid); weights go
    with their interactions.

    Per-user rather than global sampling so every user with enough history appears in validation, as test users do.
    """
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"holdout: fraction must be in (0, 1), got {fraction}")
    if n_items is None:
        n_items = int(train.indices.max()) + 1 if train.nnz else 1
    gen = torch.Generator().manual_seed(seed)
    counts = train.counts()
    users = train.users()
    # Rank each interaction within its user by a random key: sort by (user, key) with one stable argsort.
    rand = torch.rand(train.nnz, generator=gen, dtype=torch.float64)
    order = torch.argsort(users.double() + rand)  # users are integers, rand in [0,1): groups stay contiguous
    rank = torch.empty_like(order)
    rank[order] = torch.arange(train.nnz) - train.indptr[users[order]]
    n_valid = torch.minimum(torch.round(counts.double() * fraction).long(), (counts - 1).clamp(min=0))
    to_valid = rank < n_valid[users]
    keys = users * n_items + train.indices
    n_users = counts.numel()
    w = train.weights
    return (UserItems.from_keys(keys[~to_valid], n_users, n_items, None if w is None else w[~to_valid]),
            UserItems.from_keys(keys[to_valid], n_users, n_items, None if w is None else w[to_valid]))
