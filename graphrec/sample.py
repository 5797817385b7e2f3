"""A generated sample graph: users, items, a knowledge graph and friendships, with structure a model can learn.

It lets graphrec run end to end on a fresh machine with no dataset at hand. The generator is seeded and documented so
its numbers mean something:

* ``n_communities`` user communities; each community favours ``genres_per_community`` of the ``n_genres`` genres.
* every item has one or two genres (``HAS_GENRE``) and one creator (``CREATED_BY``), both KG facts to Entity nodes;
  item popularity follows a Zipf law, so the data has the long tail real catalogues have.
* each user interacts with 15–40 items drawn with probability ∝ popularity × (4 if the item has one of the user's
  community's genres else 1); weights are play counts (1–20), timestamps increase per user.
* friendships (FOLLOWS both ways) connect users mostly within their community (``p_friend_in`` vs ``p_friend_out``).

The graph is written in the ``csv`` loader's folder layout (see ``loaders/csv_files.py``), so the demo ingests it
through the same path as a user's own files.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np


def write_sample(folder: str | Path, *, n_users: int = 800, n_items: int = 600, n_genres: int = 12,
                 n_creators: int = 80, n_communities: int = 6, genres_per_community: int = 3,
                 p_friend_in: float = 0.02, p_friend_out: float = 0.0005, seed: int = 7) -> Path:
    """Write the sample graph's CSV files into ``folder`` and return it. Same seed, same files."""
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    genres = [f"genre:{g}" for g in ("Ambient", "Blues", "Classical", "Country", "Electronic", "Folk", "Hip-Hop",
                                     "Jazz", "Metal", "Pop", "Reggae", "Rock", "Soul", "Techno", "World")][:n_genres]
    if len(genres) < n_genres:
        genres += [f"genre:G{g}" for g in range(len(genres), n_genres)]
    users = [f"u{u:04d}" for u in range(n_users)]
    items = [f"i{i:04d}" for i in range(n_items)]
    community = rng.integers(0, n_communities, size=n_users)
    favourite = [rng.choice(n_genres, size=genres_per_community, replace=False) for _ in range(n_communities)]

    item_genres = [rng.choice(n_genres, size=rng.integers(1, 3), replace=False) for _ in range(n_items)]
    creator = rng.integers(0, n_creators, size=n_items)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    popularity = popularity[rng.permutation(n_items)]

    with open(folder / "entities.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "labels", "name"])
        w.writerows([g, "Genre", g.split(":", 1)[1]] for g in genres)
        w.writerows([f"creator:{c}", "Creator", f"Creator {c}"] for c in range(n_creators))
    with open(folder / "items.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "name"])
        w.writerows([item, f"Track {i}"] for i, item in enumerate(items))
    with open(folder / "users.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "name"])
        w.writerows([user, f"User {u}"] for u, user in enumerate(users))
    with open(folder / "kg.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["head", "relation", "tail", "head_label", "tail_label"])
        for i, item in enumerate(items):
            w.writerows([item, "has_genre", genres[g], "Item", "Entity"] for g in item_genres[i])
            w.writerow([item, "created_by", f"creator:{creator[i]}", "Item", "Entity"])

    with open(folder / "interactions.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["user", "item", "weight", "ts"])
        for u, user in enumerate(users):
            liked = np.isin(np.arange(n_genres), favourite[community[u]])
            boost = np.array([4.0 if liked[g].any() else 1.0 for g in item_genres])
            p = popularity * boost
            chosen = rng.choice(n_items, size=int(rng.integers(15, 41)), replace=False, p=p / p.sum())
            ts = 1_700_000_000 + np.sort(rng.integers(0, 30 * 86400, size=len(chosen)))
            w.writerows([user, items[i], int(rng.integers(1, 21)), int(t)] for i, t in zip(chosen, ts))

    with open(folder / "social.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["src", "dst"])
        same = community[:, None] == community[None, :]
        draw = rng.random((n_users, n_users)) < np.where(same, p_friend_in, p_friend_out)
        pairs = np.argwhere(np.triu(draw, k=1))
        for a, b in pairs:  # a friendship is two FOLLOWS edges
            w.writerow([users[a], users[b]])
            w.writerow([users[b], users[a]])
    return folder
