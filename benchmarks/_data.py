"""A tiny reader of the LightGCN line format (``uid iid iid ...`` per line), for benchmarks and tests only, until
the package's loaders are wired in. Not part of the package."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from graphrec.recdata import RecData

REPO = Path(__file__).resolve().parent.parent
DEFAULT_GOWALLA = REPO.parent / "shared" / "data" / "lightgcn-gowalla"


def read_lines(path: str | Path) -> torch.Tensor:
    """(2, E) (user, item) LongTensor from a LightGCN-format file; lines with only a user id are skipped."""
    users, items = [], []
    with open(path) as fh:
        for line in fh:
            parts = line.split()
            if len(parts) < 2:
                continue
            ids = np.asarray(parts, dtype=np.int64)
            users.append(np.full(len(ids) - 1, ids[0]))
            items.append(ids[1:])
    return torch.from_numpy(np.stack([np.concatenate(users), np.concatenate(items)]))


def load_lightgcn_dir(folder: str | Path) -> RecData:
    """train.txt / test.txt (and valid.txt when present) of a LightGCN-format folder."""
    folder = Path(folder)
    train = read_lines(folder / "train.txt")
    test = read_lines(folder / "test.txt")
    valid = read_lines(folder / "valid.txt") if (folder / "valid.txt").exists() else None
    parts = [p for p in (train, valid, test) if p is not None]
    n_users = int(max(p[0].max() for p in parts)) + 1
    n_items = int(max(p[1].max() for p in parts)) + 1
    return RecData.from_pairs(n_users, n_items, train, valid, test)
