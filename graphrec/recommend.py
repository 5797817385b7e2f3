"""Serving: thin functions over the named statements in ``cypher/recommend.cypher`` and ``cypher/explain.cypher``.

All ranking happens in Cypher (the exact path scores every item; the index path over-fetches from the vector index
and re-ranks the candidates exactly, in the same statement). Python only picks the statement, passes values as
$parameters, falls back to the cold-start statement for a user or item without an embedding, and turns "no rows"
into a message that says why.
"""

from __future__ import annotations

from typing import Sequence

from graphrec.db.connect import Graph
from graphrec.errors import ConfigError, NotFoundError

PATHS = ("index", "exact")


def default_fetch(k: int) -> int:
    """Candidates the index path takes from the vector index for a top-``k``: 100 for a top-20, measured on Gowalla's
    41k items with a trained LightGCN and the index built with graphrec.publish.IndexOptions' defaults to find 96%
    of the exact top-20 (95.7–96.0% over two samples of 500 users; 150 finds 97.5% for ~1 ms more; BENCHMARKS.md,
    Serving). It scales with k: the HNSW search keeps this many candidates, so it must well exceed k."""
    return max(100, 5 * k)


def _check(k: int, path: str) -> None:
    if not isinstance(k, int) or k < 1:
        raise ConfigError(f"k must be a positive integer, got {k!r}")
    if path not in PATHS:
        raise ConfigError(f"path must be one of {list(PATHS)}, got {path!r}")


def _why_empty(graph: Graph, run: str | None, user: str | None = None, item: str | None = None) -> Exception:
    mapping = graph.mapping
    status = graph.read("recommend.status", run=run, user=mapping.key("user", user),
                        item=mapping.key("item", item))[0]
    if status["run"] is None:
        return NotFoundError(f"run {run!r} is not published in this graph" if run else
                             "no run is being served: publish one with `graphrec publish RUN`")
    if user is not None:
        if not status["user_exists"]:
            return NotFoundError(f"unknown user {user!r}: no (:{mapping.user_label} {{{mapping.user_id}: {user!r}}}) "
                                 "in the graph")
        if not status["user_embedded"] and not (status["user_items"] or status["user_friends"]):
            return NotFoundError(f"user {user!r} has no embedding in run {status['run']} and no interactions or "
                                 "friends to build one from")
    if item is not None:
        if not status["item_exists"]:
            return NotFoundError(f"unknown item {item!r}: no (:{mapping.item_label} {{{mapping.item_id}: {item!r}}}) "
                                 "in the graph")
        if not status["item_embedded"] and not (status["item_entities"] or status["item_users"]):
            return NotFoundError(f"item {item!r} has no embedding in run {status['run']} and no KG entities or "
                                 "users to build one from")
    return NotFoundError("no items left to recommend after the filters")


def recommend(graph: Graph, user: str, k: int = 20, *, path: str = "index", fetch: int | None = None,
              run: str | None = None, entities: Sequence[str] | None = None, exclude: Sequence[str] | None = None,
              seen_splits: Sequence[str] | None = None, cold_start: bool = True,
              walk_splits: Sequence[str] | None = None) -> list[dict]:
    """Top-``k`` items for ``user`` as rows ``{item, score, run}``, best first (``recommend.for_user[_index]``; for
    a closed-form model's run, its item–item part from the graph plus its low-pass embeddings if it has some, over
    the items it reaches and ``fetch`` more from the index: ``recommend.similar_walk_for_user`` sums the run's stored
    rows of S over the user's items; the exact path of a model whose S is a walk, ``recommend.walk_for_user``, walks
    every path at query time over every item, and of any other reads the same stored rows, with every item's
    low-pass term).

    ``entities``: only items linked to each of these KG entities (ids or names); ``exclude``: item ids never to
    return; ``seen_splits``: None excludes every item the user interacted with, ``["train"]`` only training ones.
    A user with no embedding in the run but with graph neighbours gets the cold-start answer (rows then also carry
    ``basis`` and ``neighbours``). Raises NotFoundError with the reason when nothing can be recommended.
    """
    _check(k, path)
    params = dict(user=graph.mapping.key("user", str(user)), k=k, run=run, entities=list(entities) if entities else None,
                  exclude=list(exclude) if exclude else None,
                  seen_splits=None if seen_splits is None else list(seen_splits))
    served = graph.read("recommend.serving_run", run=run)
    if served and (served[0]["walk"] or served[0].get("similar")):  # a closed-form model: x S from the graph now
        # S walked now (exact, where S is a walk and for path exact or when no rows were stored), else its stored rows
        walked = served[0]["walk"] and (path == "exact" or not served[0].get("similar"))
        rows = graph.read("recommend.walk_for_user" if walked else "recommend.similar_walk_for_user",
                          walk_splits=None if walk_splits is None else list(walk_splits),
                          fetch=max(1, served[0]["items"] or 1) if path == "exact" else fetch or default_fetch(k),
                          **params)
    elif path == "index":
        rows = graph.read("recommend.for_user_index", fetch=fetch or default_fetch(k), **params)
    else:
        rows = graph.read("recommend.for_user", **params)
    if not rows and cold_start:
        rows = graph.read("recommend.cold_start_for_user", **params)
    if not rows:
        raise _why_empty(graph, run, user=str(user))
    return rows


def similar(graph: Graph, item: str, k: int = 20, *, run: str | None = None, exclude: Sequence[str] | None = None,
            cold_start: bool = True) -> list[dict]:
    """The ``k`` items most similar to ``item`` (cosine of the run's item embeddings; for a run without any, the
    largest entries of the item's stored row of S), rows ``{item, score, run}``."""
    _check(k, "exact")
    params = dict(item=graph.mapping.key("item", str(item)), k=k, run=run, exclude=list(exclude) if exclude else None)
    served = graph.read("recommend.serving_run", run=run)
    stored = bool(served) and served[0].get("similar") is not None and not served[0].get("dim")
    rows = graph.read("recommend.similar_stored_items" if stored else "recommend.similar_items", **params)
    if not rows and cold_start and not stored:
        rows = graph.read("recommend.cold_start_similar_items", **params)
    if not rows:
        raise _why_empty(graph, run, item=str(item))
    return rows


def explain(graph: Graph, user: str, items: Sequence[str], limit: int = 3) -> dict[str, dict]:
    """For each of ``items``, the paths that connect ``user`` to it (``explain.why``): ``{item: {via_kg, via_friends}}``."""
    mapping = graph.mapping
    rows = graph.read("explain.why", user=mapping.key("user", str(user)),
                      items=[mapping.key("item", str(i)) for i in items], limit=limit,
                      directed=mapping.social_directed)
    return {r["item"]: {"via_kg": r["via_kg"], "via_friends": r["via_friends"]} for r in rows}


ATTENTION_MODELS = ("kgat",)  # models whose runs can explain with graphrec.explain_model.attention_paths


def attention_explain(runs_dir, run_id: str, user: str, items: Sequence[str], limit: int = 3) -> dict[str, list]:
    """Model-based explanations, for runs of an attention model (KGAT): for each of ``items``, the ``limit``
    highest-attention paths from ``user`` in the model's graph (:func:`graphrec.explain_model.attention_paths`),
    as ``{score, path, nodes: [[type, id], ...], relations, inverse}`` with business ids. Empty for runs of other
    models and for users or items the run has no row for. Reads the run folder (NotFoundError without it)."""
    from graphrec.explain_model import attention_paths, node_type
    from graphrec.runs import load_run

    run = load_run(runs_dir, run_id)
    if run.meta.get("model") not in ATTENTION_MODELS:
        return {}
    ids = run.ids()
    if str(user) not in ids.index["user"]:
        return {}
    model = run.model()

    def ref(node: int) -> tuple[str, str]:
        kind, row = node_type(model, node)
        return kind, ids.ids[kind][row]

    out = {}
    for item in items:
        if str(item) not in ids.index["item"]:
            continue
        paths = attention_paths(model, ids.index["user"][str(user)], ids.index["item"][str(item)], k=limit)
        out[str(item)] = [{"score": p.score, "path": p.describe(lambda n: ref(n)[1]),
                           "nodes": [list(ref(n)) for n in p.nodes], "relations": list(p.relations),
                           "inverse": list(p.inverse)} for p in paths]
    return out
