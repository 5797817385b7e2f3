"""Write-back: a training run's embeddings onto the graph's nodes, its (:ModelRun) node, its vector index, and
which run is served.

Serving design (the queries are in ``cypher/recommend.cypher``):

* every run writes its own properties: ``User.graphrec_emb_<run>``, ``Item.graphrec_emb_<run>`` and
  ``Item.graphrec_mips_<run>`` (on the mapping's user and item labels; the prefix keeps them apart from the user's
  own properties, which publish never writes) (the item
  embedding augmented for inner-product search, ``[x, sqrt(M² − |x|²)]``, M the largest item norm), plus its own
  vector index, so publishing a run never changes what the served run reads;
* the ``(:ModelRun {id})`` node records the model, hyper-parameters, metrics, data counts, times, and the names of
  those properties and of the index; ``serving: true`` marks the one run served;
* :func:`switch` flips ``serving`` on every ModelRun in one statement (one transaction), and every serving query
  first matches the served ModelRun and reads the property and index names from it, so a query sees one run or the
  other, never a mix; switching back to an older run is the same call;
* embeddings are checked before the first write (:func:`check_embeddings`): Neo4j's cosine throws on a NaN, infinite
  or zero vector, and one such row would fail every query that scores it;
* a closed-form model whose scores are not its embeddings' inner products (GF-CF, BSPM, ChebyCF, Turbo-CF, ItemKNN,
  EASE^R, LinkProp) is scores = x S + a low-pass part: the low-pass part (if any) is written as embeddings, and S as
  each item's top-s row entries, ``GRAPHREC_SIMILAR`` relationships (:mod:`graphrec.itemgraph`), summed over the
  user's items at query time. A model whose S is a degree-weighted walk also records its exponents
  (``walk_user_power``, ``walk_item_power``), so the exact path can walk it in the graph instead.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Iterator, Sequence

from graphrec.db.connect import Graph
from graphrec.db.dialect import VectorIndex
from graphrec.db.names import checked
from graphrec.errors import ConfigError, GraphrecError, NotFoundError
from graphrec.progress import Progress, silent
from graphrec.runs import Run

if TYPE_CHECKING:  # torch is imported where embeddings are read: runs list / switch / drop need none
    import torch

_MAX = 64
HNSW_OPTIONS_SINCE = (5, 23)   # the first Neo4j whose vector indexes take quantization / m / ef_construction


def _identifier(prefix: str, run_id: str) -> str:
    """``<prefix>_<run id with every non-alphanumeric as _>``, shortened with a digest past 64 characters."""
    text = f"{prefix}_{re.sub(r'[^A-Za-z0-9]', '_', run_id)}"
    if len(text) > _MAX:
        text = f"{text[:_MAX - 9]}_{hashlib.sha1(run_id.encode()).hexdigest()[:8]}"
    return checked(text)


@dataclass(frozen=True)
class RunProperties:
    """The node property names one run writes, and the name of its vector index (see the module doc)."""

    user: str
    item: str
    mips: str
    index: str

    @classmethod
    def of(cls, run_id: str) -> "RunProperties":
        return cls(_identifier("graphrec_emb", run_id), _identifier("graphrec_emb", run_id),
                   _identifier("graphrec_mips", run_id), _identifier("graphrec_mips", run_id))


@dataclass(frozen=True)
class IndexOptions:
    """The settings of a run's vector index (Neo4j 5.23+ ``indexConfig``: int8 quantization, the HNSW graph's
    ``m`` and ``ef_construction``; a 5.18–5.22 server has none of them and builds its index with its own defaults).

    The defaults were chosen on the whole Gowalla catalogue (41k items, a trained 64-d LightGCN, 500 users;
    BENCHMARKS.md, Serving; benchmarks/index_recall.py) among quantization on/off × m 16/32/64 × ef_construction
    100/200/400: with :func:`graphrec.recommend.default_fetch` (100 candidates for a top-20) they find 96% of the
    exact top-20, where Neo4j's own defaults (on, 16, 100) need 200 candidates for 95.6%. Turning quantization off
    never gained more than 0.5 points from 100 candidates up, so it stays on (the search reads 1-byte components
    instead of 4-byte ones); a larger ef_construction is what lifts the share, for a slower build (~13–22 s instead
    of ~4 s on Gowalla).
    """

    quantization: bool = True
    m: int = 32
    ef_construction: int = 400

    def __post_init__(self):
        if not isinstance(self.quantization, bool):
            raise ConfigError(f"IndexOptions: quantization must be True or False, got {self.quantization!r}")
        for name, top in (("m", 512), ("ef_construction", 3200)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
                raise ConfigError(f"IndexOptions: {name} must be an integer in 1..{top} (Neo4j's range), got {value!r}")


def meta_embeddings(run: Run) -> str:
    """What a run's embeddings hold: ``scores`` (the model's scores are their inner products), ``low-pass part`` (a
    graph filter's low-rank term; the rest is item–item) or ``none`` (all of it is item–item)."""
    return str(run.meta.get("embeddings", "scores"))


def _closed_form(name: str) -> bool:
    from graphrec.models import MODELS  # torch: imported where embeddings are read

    return bool(getattr(MODELS.get(name), "closed_form", False))


def walk_exponents(model) -> dict:
    """``{walk_user_power, walk_item_power}`` for a model whose item–item part S is the walk user → item → user →
    item weighted d_v^-a on the middle user and d^-b on both items (``recommend.walk_for_user``), else {}."""
    powers = model.walk_powers() if hasattr(model, "walk_powers") else None
    return {} if powers is None else {"walk_user_power": float(powers[0]), "walk_item_power": float(powers[1])}


def check_embeddings(run_id: str, ids: dict[str, Sequence[str]], users: torch.Tensor,
                     items: torch.Tensor, zero_items_allowed: bool = False) -> torch.Tensor:
    """Refuse embeddings that Neo4j's cosine cannot score; return which user rows to write (a bool mask).

    ``vector.similarity.cosine`` throws on a vector with a NaN or infinite entry or of norm 0, and one such row fails
    the whole query that meets it, so:

    * a NaN or infinite entry in any row, user or item, is refused: a model that produced it is broken;
    * an item row of norm 0 is refused: similar-item queries score the item embeddings themselves by cosine, and an
      item the model cannot tell apart from nothing should not be published as if it were ranked; except in the
      low-pass part of a graph filter (``zero_items_allowed``), where it is an item no training user has (no signal):
      such rows are not written, and the item is reached by the filter's walk in the graph, or not at all;
    * a user row of norm 0 is NOT written: such a user has no direction to rank by (every item would tie at score
      0), which is what a model gives a user it saw nothing of (a graph filter's user with no training
      interactions), not a fault. Without a property in the run, that user gets the cold-start answer (the mean of
      its items' or friends' embeddings), which is the better answer; refusing instead would make the whole run
      unpublishable for one such user. A run whose every user row is 0 is refused.

    Raises GraphrecError naming the run, the kind, how many rows and the first offending id, before anything is
    written.
    """
    import torch

    for kind, matrix in (("user", users), ("item", items)):
        bad = (~torch.isfinite(matrix)).any(dim=1)
        if bad.any():
            rows = bad.nonzero().flatten()
            raise GraphrecError(f"run {run_id}: {len(rows):,} {kind} embedding rows hold NaN or infinite values "
                                f"(first: {kind} {ids[kind][int(rows[0])]!r}); nothing was written: the model "
                                "diverged, retrain it (a lower --lr) before publishing")
    zero_items = (items == 0).all(dim=1)
    if zero_items.any() and not zero_items_allowed:
        rows = zero_items.nonzero().flatten()
        raise GraphrecError(f"run {run_id}: {len(rows):,} item embedding rows are zero vectors (first: item "
                            f"{ids['item'][int(rows[0])]!r}), which Neo4j's cosine cannot score; nothing was written")
    keep = (users != 0).any(dim=1)
    if len(users) and not keep.any():
        raise GraphrecError(f"run {run_id}: all {len(users):,} user embedding rows are zero vectors (first: user "
                            f"{ids['user'][0]!r}); nothing was written: the model learned nothing")
    return keep


def augment(items: torch.Tensor, max_norm: float | None = None) -> tuple[torch.Tensor, float]:
    """The MIPS → cosine augmentation: rows x → [x, sqrt(M² − |x|²)] with M = max |x| (or ``max_norm``, a published
    run's own M, for rows added to it later), and M.

    For a query q' = [q, 0], cos(q', x') = q·x / (|q| M): the cosine ranking of the augmented items is exactly the
    inner-product ranking, and q·x = cos · |q| · M.
    """
    import torch

    x = items.detach().to(torch.float64)
    sq = (x * x).sum(dim=1)
    if max_norm is None:
        max_norm = float(sq.max().sqrt()) if len(x) else 0.0
    extra = (max_norm ** 2 - sq).clamp_min(0.0).sqrt()
    return torch.cat([x, extra[:, None]], dim=1), max_norm


@dataclass
class PublishReport:
    run: str
    users: int = 0
    items: int = 0
    missing: dict = field(default_factory=dict)   # ids in the run that the graph does not hold, per type
    zero_users: int = 0   # user rows not written (norm 0, or unseen_users): those users get the cold-start answer
    unseen_users: int = 0  # users with no training interaction and no friend in the run: their rows are noise
    index: str = ""
    serving: bool = False
    similar: int = 0       # item–item relationships written (a closed-form model's stored rows of S)
    item_item: str = ""    # how the rest of the scores is served: "stored" rows of S, "walk" (computed), or ""
    seconds: dict = field(default_factory=dict)  # wall seconds of each part: "embeddings" (and their index), "rows"
    # (forming the item–item rows) and "item_item" (writing them): graphrec.tunecost.PublishCost learns from them


def _batches(ids: Sequence[str], vectors: list, size: int, extra: list | None = None) -> Iterator[list[dict]]:
    for start in range(0, len(ids), size):
        rows = []
        for k in range(start, min(start + size, len(ids))):
            row = {"id": ids[k], "v": vectors[k]}
            if extra is not None:
                row["a"] = extra[k]
            rows.append(row)
        yield rows


def write_embeddings(graph: Graph, kind: str, props: RunProperties, ids: Sequence[str], vectors: torch.Tensor,
                     batch_size: int, progress: Progress = silent, augmented: torch.Tensor | None = None) -> int:
    """Write ``vectors`` (and, for items, their MIPS ``augmented`` rows) onto the nodes of business ``ids`` with the
    run's properties, ``batch_size`` nodes a transaction; returns how many nodes were found and written."""
    mapping = graph.mapping
    name = f"publish.write_{kind}_embeddings"
    slots = {"property": props.user} if kind == "user" else {"property": props.item, "mips": props.mips}
    typed = [mapping.key(kind, ident) for ident in ids]
    rows_iter = _batches(typed, vectors.tolist(), batch_size, None if augmented is None else augmented.tolist())
    written = 0
    with graph.driver.session(database=graph.database) as session, \
            progress(f"write {kind} embeddings", len(typed)) as advance:
        text = graph.text(name, slots)
        for rows in rows_iter:
            def work(tx, rows=rows):
                return tx.run(text, rows=rows).single()["written"]
            written += graph._guard(name, lambda: session.execute_write(work))
            advance(len(rows))
    return written


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def unseen_users(run: Run, n_users: int):
    """A bool mask of the users the run saw nothing of: no training interaction and no social edge in the graphs it
    was trained on (``graphs.pt``), or None for a run without that file. A model's row for such a user is its untrained
    initial vector, so recommendations from it would be noise dressed as a ranking (#34); publish leaves them out and
    serving answers them from the graph (cold start) or says there is nothing to go on."""
    import torch

    try:
        train, side = run.graphs()
    except NotFoundError:
        return None
    seen = torch.zeros(n_users, dtype=torch.bool)
    seen[train[0].long()] = True
    if side.social.numel():
        seen[side.social.flatten().long()] = True
    return ~seen


def publish(graph: Graph, run: Run, *, serve: bool = True, batch_size: int = 5_000, index_timeout: int = 600,
            index_options: IndexOptions = IndexOptions(), similar: int = 100,
            progress: Progress = silent) -> PublishReport:
    """Write ``run``'s embeddings onto the graph (batched, one transaction per batch), its (:ModelRun) node and its
    item vector index; then serve it (``serve=True``). Publishing a run again rewrites the same properties.

    The embeddings are checked first (:func:`check_embeddings`): a refused run leaves the graph as it was. An index
    the run already has is kept as it is; :func:`rebuild_index` builds it again with other ``index_options``. A
    closed-form model whose scores are more than its embeddings (see the module doc) also gets each item's
    ``similar`` largest entries of its row of S as relationships (:mod:`graphrec.itemgraph`); 0 stores none, for a
    model whose S is a walk, which is then walked at query time. A model that cannot be served from the graph
    (``not_servable``) is refused before anything is written."""
    import torch

    emb = run.embeddings()
    ids = run.ids()
    users, items = emb["user"].to(torch.float32), emb["item"].to(torch.float32)
    if users.shape[1] != items.shape[1]:
        raise GraphrecError(f"run {run.id}: user embeddings have {users.shape[1]} dimensions, items {items.shape[1]}")
    user_ids, item_ids = ids.ids["user"], ids.ids["item"]
    model, walk = None, {}
    if meta_embeddings(run) != "scores":  # the rest of its scores is item–item: check it can be served first
        model = run.model()
        if model.not_servable:
            raise GraphrecError(f"run {run.id}: {run.meta.get('model')} cannot be published: {model.not_servable}")
        walk = walk_exponents(model)
        if similar <= 0 and not walk:
            raise ConfigError(f"run {run.id}: similar={similar} stores no item–item rows, and {run.meta.get('model')}'s "
                              "are not a walk the graph can compute at query time; give similar >= 1")
    embedded = items.shape[1] > 0
    if embedded:  # a closed-form model's zero item row is an item no training user has (popularity 0, no signal)
        keep = check_embeddings(run.id, {"user": user_ids, "item": item_ids}, users, items,
                                zero_items_allowed=model is not None or _closed_form(str(run.meta.get("model", ""))))
        keep_items = (items != 0).any(dim=1)
        unseen = unseen_users(run, len(user_ids))
        if unseen is not None:
            keep = keep & ~unseen
    else:  # only item–item rows: no property, no vector index
        keep, unseen = torch.zeros(len(user_ids), dtype=torch.bool), None
        keep_items = torch.zeros(len(item_ids), dtype=torch.bool)
    props = RunProperties.of(run.id)
    index: VectorIndex = graph.dialect.item_index(props.index, props.mips)
    augmented, max_norm = augment(items)
    meta = run.meta
    graph.apply_schema(own_only=not graph.mapping.is_default)
    graph.write("publish.begin_run", run={
        "id": run.id,
        "model": str(meta.get("model", "")),
        "params": json.dumps(meta.get("params", meta.get("hyper_parameters", {})), default=str),
        "metrics": json.dumps(meta.get("metrics", {}), default=str),
        "counts": json.dumps(meta.get("counts", meta.get("data", {})), default=str),
        "meta": json.dumps(meta, default=str),
        "created_at": str(meta.get("created_at", "")),
        "dim": int(items.shape[1]),
        "max_norm": max_norm,
        "user_property": props.user,
        "item_property": props.item,
        "mips_property": props.mips,
        "index_name": index.name,
        "index_pad": index.pad,
        **walk,
    })
    report = PublishReport(run.id, index=index.name if embedded else "", zero_users=int((~keep).sum()) if embedded else 0,
                           unseen_users=int(unseen.sum()) if unseen is not None else 0)

    began = time.perf_counter()
    if embedded:
        written_ids = [user_ids[k] for k in keep.nonzero().flatten().tolist()]
        report.users = write_embeddings(graph, "user", props, written_ids, users[keep], batch_size, progress)
        written_items = [item_ids[k] for k in keep_items.nonzero().flatten().tolist()]
        report.items = write_embeddings(graph, "item", props, written_items, items[keep_items], batch_size, progress,
                                        augmented[keep_items])
        report.missing = {"user": len(written_ids) - report.users, "item": len(written_items) - report.items}
        if report.items == 0 or report.users == 0:
            raise GraphrecError(f"run {run.id}: none of its {'items' if report.items == 0 else 'users'} are in the "
                                f"graph at {graph.uri}; publish it to the graph it was trained on")
        with progress("build the item vector index", 1) as advance:
            create_index(graph, index, int(items.shape[1]) + index.pad, index_options, timeout=index_timeout)
            advance(1)
        report.seconds["embeddings"] = time.perf_counter() - began
    stored = None
    if model is not None and similar <= 0:  # walked at query time: rows an earlier publish stored would be orphans
        from graphrec.itemgraph import drop_similar

        drop_similar(graph, run.id)
    elif model is not None:  # its item–item part as each item's largest row entries
        from graphrec.itemgraph import write_similar

        stored, began = similar, time.perf_counter()
        report.similar, found = write_similar(graph, run.id, model, item_ids, similar, progress=progress,
                                              timed=report.seconds)
        report.seconds["item_item"] = time.perf_counter() - began - report.seconds["rows"]
        report.items = report.items or found
        if found == 0:
            raise GraphrecError(f"run {run.id}: none of its items are in the graph at {graph.uri}; publish it to the "
                                "graph it was trained on")
    report.item_item = "" if model is None else "stored" if stored else "walk"
    graph.write("publish.finish_run", id=run.id, now=_now(), users=report.users, items=report.items,
                similar=stored)
    if serve:
        switch(graph, run.id)
        report.serving = True
    return report


def create_index(graph: Graph, index: VectorIndex, dimensions: int, options: IndexOptions = IndexOptions(),
                 timeout: int = 600) -> None:
    """Create ``index`` with ``options`` if it does not exist and wait until it serves (a Neo4j before 5.23, which
    has no such settings, builds it with its own defaults)."""
    if graph.dialect.version[:2] >= HNSW_OPTIONS_SINCE:
        graph.write("publish.create_vector_index", {"index": index.name, "property": index.property},
                    dimensions=dimensions, quantization=options.quantization, m=options.m,
                    ef_construction=options.ef_construction)
    else:
        graph.write("publish.create_vector_index_5_18", {"index": index.name, "property": index.property},
                    dimensions=dimensions)
    graph.write("publish.await_index", index=index.name, seconds=timeout)


def rebuild_index(graph: Graph, run_id: str, options: IndexOptions, timeout: int = 600) -> None:
    """Drop published run ``run_id``'s vector index and build it again with ``options`` (waits until it serves).
    Queries of the index path on this run fail while it is rebuilt: do it on a run that is not served, or off-peak."""
    rows = graph.read("publish.get_run", id=run_id)
    if not rows:
        raise NotFoundError(f"run {run_id!r} is not published in this graph")
    meta = rows[0]["run"]
    index = VectorIndex(meta["index_name"], meta["mips_property"], int(meta["index_pad"]))
    graph.write("publish.drop_vector_index", {"index": index.name})
    create_index(graph, index, int(meta["dim"]) + index.pad, options, timeout=timeout)


def index_config(graph: Graph, run_id: str) -> dict:
    """Published run ``run_id``'s vector index as the server holds it: ``{name, state, config}`` (config: the
    ``indexConfig`` map, e.g. ``vector.hnsw.m``), state None when the index is missing."""
    rows = graph.read("publish.get_run", id=run_id)
    if not rows:
        raise NotFoundError(f"run {run_id!r} is not published in this graph")
    name = rows[0]["run"]["index_name"]
    found = graph.read("publish.index_config", index=name)
    return {"name": name, "state": found[0]["state"] if found else None, "config": found[0]["config"] if found else {}}


def switch(graph: Graph, run_id: str) -> None:
    """Serve run ``run_id`` from now on (atomically: see the module doc). It must have been published completely."""
    rows = graph.write("publish.switch", id=run_id, now=_now())
    if not rows:
        known = [r["id"] for r in published_runs(graph) if r["status"] == "ready"]
        raise NotFoundError(f"run {run_id!r} is not published in this graph (or its write-back did not finish); "
                            f"published runs: {known or 'none'}; publish it with `graphrec publish {run_id}`")


def published_runs(graph: Graph) -> list[dict]:
    """Every (:ModelRun) in the graph, oldest first: id, model, status, serving, times, metrics (a dict)."""
    runs = graph.read("publish.runs")
    for r in runs:
        r["metrics"] = json.loads(r["metrics"]) if r.get("metrics") else {}
    return runs


def serving(graph: Graph) -> dict | None:
    """The run being served, or None."""
    return next((r for r in published_runs(graph) if r["serving"]), None)


def drop(graph: Graph, run_id: str, batch_size: int = 5_000) -> None:
    """Remove a run that is not served: its node properties, its vector index and its (:ModelRun) node."""
    rows = graph.read("publish.get_run", id=run_id)
    if not rows:
        raise NotFoundError(f"run {run_id!r} is not published in this graph")
    meta = rows[0]["run"]
    if meta.get("serving"):
        raise GraphrecError(f"run {run_id!r} is being served; switch to another run first (`graphrec runs switch`)")
    graph.write("publish.drop_vector_index", {"index": meta["index_name"]})
    if meta.get("similar_k"):
        from graphrec.itemgraph import drop_similar

        drop_similar(graph, run_id)
    mapping = graph.mapping
    for label, prop in ((mapping.user_label, meta["user_property"]), (mapping.item_label, meta["item_property"]),
                        (mapping.item_label, meta["mips_property"])):
        while graph.write("publish.remove_property", {"label": label, "property": prop}, batch=batch_size)[0]["removed"]:
            pass
    graph.write("publish.delete_run", id=run_id)
