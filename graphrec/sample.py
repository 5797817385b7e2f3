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

from graphrec.errors import ConfigError


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


# ---- a power-law graph for scale ---------------------------------------------------------------------------------
# The sample graph above holds ~22,000 interactions and builds a users x users matrix for its friendships; the graph
# below reaches 10^7 interactions in a few hundred MB: it is written a block of users at a time.
POWER_LAW_BLOCK = 20_000          # users per written block (part of what a seed means: do not make it an option)
KG_RELATIONS = ("has_tag", "in_genre", "by_creator", "in_series", "about_topic")
TIME_ORIGIN, TIME_SPAN = 1_600_000_000, 2 * 365 * 86400


def zipf_counts(total: int, n: int, exponent: float, minimum: int, cap: int) -> np.ndarray:
    """``n`` whole counts, each in [minimum, cap], summing to ``total``, the part above ``minimum`` in proportion to
    rank^-exponent (rank 1 first); what a capped count would get beyond ``cap`` goes to the others in the same
    proportion."""
    if not minimum * n <= total <= cap * n:
        raise ConfigError(f"zipf_counts: {total:,} cannot be dealt into {n:,} counts of {minimum} to {cap} each "
                          f"({minimum * n:,} to {cap * n:,})")
    weights = np.arange(1, n + 1, dtype=np.float64) ** -exponent
    counts = np.full(n, minimum, dtype=np.int64)
    while (rest := total - int(counts.sum())) > 0:
        open_ = counts < cap
        share = np.where(open_, weights, 0.0)
        add = np.floor(share / share.sum() * rest).astype(np.int64)
        add[np.flatnonzero(open_)[:rest - int(add.sum())]] += 1   # the remainder to the highest ranks still open
        counts = np.minimum(counts + add, cap)
    return counts


def _distinct_targets(rng: np.random.Generator, owners: np.ndarray, counts: np.ndarray, cdf: np.ndarray,
                      no_self: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """For each owner ``owners[j]``, ``counts[j]`` distinct targets drawn without replacement in proportion to the
    probabilities whose cumulative sum is ``cdf`` (``no_self``: never the owner's own number): draws with
    replacement, the repeats drawn again until every owner has its count. Returns (owner, target) sorted by owner,
    each owner's targets in the order drawn."""
    n_targets = len(cdf)
    got_owner, got_target = np.empty(0, np.int64), np.empty(0, np.int64)
    taken = np.empty(0, np.int64)                  # owner * n_targets + target of every pair kept so far, sorted
    need = counts.astype(np.int64).copy()
    while need.any():
        who = np.flatnonzero(need)
        tries = np.repeat(owners[who], need[who] * 2 + 8)
        target = np.minimum(np.searchsorted(cdf, rng.random(len(tries)), side="right"), n_targets - 1)
        keys = tries * n_targets + target
        _, first = np.unique(keys, return_index=True)
        first.sort()                                # the draw order of each pair's first draw
        keys = keys[first]
        fresh = ~np.isin(keys, taken, assume_unique=True)
        if no_self:
            fresh &= keys // n_targets != keys % n_targets
        keys = keys[fresh]
        owner = keys // n_targets
        # the j-th new target of an owner is kept while j < what the owner still needs
        order = np.argsort(owner, kind="stable")
        keys, owner = keys[order], owner[order]
        starts = np.searchsorted(owner, owner, side="left")
        rank = np.arange(len(owner)) - starts
        position = np.searchsorted(owners, owner)
        keep = rank < need[position]
        keys, owner = keys[keep], owner[keep]
        np.subtract.at(need, position[keep], 1)
        got_owner = np.concatenate([got_owner, owner])
        got_target = np.concatenate([got_target, keys % n_targets])
        taken = np.union1d(taken, keys)
    order = np.argsort(got_owner, kind="stable")
    return got_owner[order], got_target[order]


def _blocks(rng: np.random.Generator, counts: np.ndarray, cdf: np.ndarray, no_self: bool = False):
    """(owners, owner, target) for each block of ``POWER_LAW_BLOCK`` owners: :func:`_distinct_targets` a block at a
    time, so that only one block's edges are ever in memory."""
    for start in range(0, len(counts), POWER_LAW_BLOCK):
        owners = np.arange(start, min(start + POWER_LAW_BLOCK, len(counts)))
        yield owners, *_distinct_targets(rng, owners, counts[owners], cdf, no_self=no_self)


def _popularity_cdf(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """Cumulative probabilities of ``n`` ids, each ∝ rank^-exponent, the ranks dealt to the ids at random."""
    weights = (np.arange(1, n + 1, dtype=np.float64) ** -exponent)[rng.permutation(n)]
    cdf = np.cumsum(weights)
    return cdf / cdf[-1]


def write_power_law(folder: str | Path, interactions: int, *, users: int | None = None, items: int | None = None,
                    user_exponent: float = 0.9, item_exponent: float = 0.9, min_user_items: int = 5,
                    test_fraction: float = 0.2, kg_per_item: float = 3.0, entity_exponent: float = 1.0,
                    follows_per_user: float = 5.0, follow_exponent: float = 0.9, seed: int = 0) -> Path:
    """Write a graph of exactly ``interactions`` user–item interactions, with a knowledge graph and follows, in the
    ``csv`` loader's layout (interactions.csv with ``user,item,ts,split``, kg.csv, social.csv) and return ``folder``.

    Sizes default to ``users = interactions // 25`` and ``items = interactions // 50`` (Gowalla-like densities).
    User activity is Zipf-like: each user has ``min_user_items`` interactions plus a share of the rest ∝
    rank^-``user_exponent`` (at most a tenth of the catalogue); items are drawn without repeats per user in
    proportion to a popularity ∝ rank^-``item_exponent`` (ranks dealt to ids at random; the counts come out a little
    flatter at the head than the exponent, as a user takes an item once). Each user's interactions
    get increasing timestamps; the last ``test_fraction`` of them (at least one, leaving one to train) are the
    stored ``test`` split, the rest ``train``. KG: about ``kg_per_item`` facts an item (at least one, Zipf-like
    counts), tails among ``items // 5`` entities drawn ∝ rank^-``entity_exponent``; follows: about
    ``follows_per_user`` a user (Zipf-like counts), followed users drawn ∝ rank^-``follow_exponent``.

    Written a block of users at a time, so memory stays O(users + items + block) whatever the size. Same arguments,
    same bytes."""
    users = interactions // 25 if users is None else users
    items = interactions // 50 if items is None else items
    for name, value in (("interactions", interactions), ("users", users), ("items", items)):
        if value < 1:
            raise ConfigError(f"write_power_law: {name} must be at least 1, got {value}")
    if not 0 <= test_fraction < 1:
        raise ConfigError(f"write_power_law: test_fraction must be in [0, 1), got {test_fraction}")
    cap = max(min_user_items, items // 10)
    if not min_user_items * users <= interactions <= cap * users:
        raise ConfigError(f"write_power_law: {interactions:,} interactions do not fit {users:,} users of "
                          f"{min_user_items} to {cap:,} items each (a tenth of {items:,} items); give more users or "
                          "items (users=, items=; graphrec sample --users, --items)")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)]

    rng = streams[0]
    degree = zipf_counts(interactions, users, user_exponent, min_user_items, cap)[rng.permutation(users)]
    item_cdf = _popularity_cdf(rng, items, item_exponent)
    with open(folder / "interactions.csv", "w") as fh:
        fh.write("user,item,ts,split\n")
        for owners, user, item in _blocks(rng, degree, item_cdf):
            ts = TIME_ORIGIN + rng.integers(0, TIME_SPAN, size=len(user))
            # each user's times sorted within its rows: sort by (user, time)
            ts = ts[np.lexsort((ts, user))]
            first = np.searchsorted(user, owners)
            d = degree[owners]
            n_test = np.where(d >= 2, np.maximum(1, np.floor(d * test_fraction).astype(np.int64)), 0)
            n_test = np.minimum(n_test, d - 1) if test_fraction else np.zeros_like(d)
            position = np.arange(len(user)) - np.repeat(first, d)
            test = position >= np.repeat(d - n_test, d)
            fh.write("".join(f"u{u},i{i},{t},{'test' if s else 'train'}\n"
                             for u, i, t, s in zip(user.tolist(), item.tolist(), ts.tolist(), test.tolist())))

    rng = streams[1]
    entities = max(1, items // 5)
    kg_cap = min(entities, 200)
    kg_counts = zipf_counts(min(max(items, round(kg_per_item * items)), kg_cap * items), items, 1.0, 1, kg_cap)
    kg_counts = kg_counts[rng.permutation(items)]
    entity_cdf = _popularity_cdf(rng, entities, entity_exponent)
    with open(folder / "kg.csv", "w") as fh:
        fh.write("head,relation,tail\n")
        for _, head, tail in _blocks(rng, kg_counts, entity_cdf):
            relation = rng.integers(0, len(KG_RELATIONS), size=len(head))
            fh.write("".join(f"i{h},{KG_RELATIONS[r]},e{t}\n"
                             for h, r, t in zip(head.tolist(), relation.tolist(), tail.tolist())))

    rng = streams[2]
    follow_cap = min(users - 1, 200)
    follow_counts = zipf_counts(min(round(follows_per_user * users), follow_cap * users), users, 1.0, 0,
                                follow_cap)[rng.permutation(users)]
    followed_cdf = _popularity_cdf(rng, users, follow_exponent)
    with open(folder / "social.csv", "w") as fh:
        fh.write("src,dst\n")
        for _, src, dst in _blocks(rng, follow_counts, followed_cdf, no_self=True):
            fh.write("".join(f"u{s},u{d}\n" for s, d in zip(src.tolist(), dst.tolist())))
    return folder
