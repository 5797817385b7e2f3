"""Write-back: a training run's embeddings onto the graph's nodes, its (:ModelRun) node, its vector index, and
which run is served.

Serving design (the queries are in ``cypher/recommend.cypher``):

* every run writes its own properties: ``User.emb_<run>``, ``Item.emb_<run>`` and ``Item.mips_<run>`` (the item
  embedding augmented for inner-product search, ``[x, sqrt(M² − |x|²)]``, M the largest item norm), plus its own
  vector index, so publishing a run never changes what the served run reads;
* the ``(:ModelRun {id})`` node records the model, hyper-parameters, metrics, data counts, times, and the names of
  those properties and of the index; ``serving: true`` marks the one run served;
* :func:`switch` flips ``serving`` on every ModelRun in one statement (one transaction), and every serving query
  first matches the served ModelRun and reads the property and index names from it, so a query sees one run or the
  other, never a mix; switching back to an older run is the same call.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterator, Sequence

import torch

from graphrec.db.connect import Graph
from graphrec.db.dialect import VectorIndex
from graphrec.db.names import checked
from graphrec.errors import GraphrecError, NotFoundError
from graphrec.progress import Progress, silent
from graphrec.runs import Run

_MAX = 64


def _identifier(prefix: str, run_id: str) -> str:
    """``<prefix>_<run id with every non-alphanumeric as _>``, shortened with a digest past 64 characters."""
    text = f"{prefix}_{re.sub(r'[^A-Za-z0-9]', '_', run_id)}"
    if len(text) > _MAX:
        text = f"{text[:_MAX - 9]}_{hashlib.sha1(run_id.encode()).hexdigest()[:8]}"
    return checked(text)


@dataclass(frozen=True)
class RunProperties:
    """The node property names one run writes (see the module doc)."""

    user: str
    item: str
    mips: str

    @classmethod
    def of(cls, run_id: str) -> "RunProperties":
        return cls(_identifier("emb", run_id), _identifier("emb", run_id), _identifier("mips", run_id))


def augment(items: torch.Tensor) -> tuple[torch.Tensor, float]:
    """The MIPS → cosine augmentation: rows x → [x, sqrt(M² − |x|²)] with M = max |x|, and M.

    For a query q' = [q, 0], cos(q', x') = q·x / (|q| M): the cosine ranking of the augmented items is exactly the
    inner-product ranking, and q·x = cos · |q| · M.
    """
    x = items.detach().to(torch.float64)
    sq = (x * x).sum(dim=1)
    max_norm = float(sq.max().sqrt()) if len(x) else 0.0
    extra = (max_norm ** 2 - sq).clamp_min(0.0).sqrt()
    return torch.cat([x, extra[:, None]], dim=1), max_norm


@dataclass
class PublishReport:
    run: str
    users: int = 0
    items: int = 0
    missing: dict = field(default_factory=dict)   # ids in the run that the graph does not hold, per type
    index: str = ""
    serving: bool = False


def _batches(ids: Sequence[str], vectors: list, size: int, extra: list | None = None) -> Iterator[list[dict]]:
    for start in range(0, len(ids), size):
        rows = []
        for k in range(start, min(start + size, len(ids))):
            row = {"id": ids[k], "v": vectors[k]}
            if extra is not None:
                row["a"] = extra[k]
            rows.append(row)
        yield rows


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def publish(graph: Graph, run: Run, *, serve: bool = True, batch_size: int = 5_000, index_timeout: int = 600,
            progress: Progress = silent) -> PublishReport:
    """Write ``run``'s embeddings onto the graph (batched, one transaction per batch), its (:ModelRun) node and its
    item vector index; then serve it (``serve=True``). Publishing a run again rewrites the same properties."""
    emb = run.embeddings()
    ids = run.ids()
    users, items = emb["user"].to(torch.float32), emb["item"].to(torch.float32)
    if users.shape[1] != items.shape[1]:
        raise GraphrecError(f"run {run.id}: user embeddings have {users.shape[1]} dimensions, items {items.shape[1]}")
    props = RunProperties.of(run.id)
    index: VectorIndex = graph.dialect.item_index(_identifier("graphrec_mips", run.id), props.mips)
    augmented, max_norm = augment(items)
    meta = run.meta
    graph.apply_schema()
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
    })
    report = PublishReport(run.id, index=index.name)

    def write(kind: str, name: str, slots: dict, rows_iter: Iterator[list[dict]], total: int) -> int:
        written = 0
        with graph.driver.session(database=graph.database) as session, progress(f"write {kind} embeddings", total) as advance:
            text = graph.text(name, slots)
            for rows in rows_iter:
                def work(tx, rows=rows):
                    return tx.run(text, rows=rows).single()["written"]
                written += graph._guard(name, lambda: session.execute_write(work))
                advance(len(rows))
        return written

    user_ids, item_ids = ids.ids["user"], ids.ids["item"]
    report.users = write("user", "publish.write_user_embeddings", {"property": props.user},
                         _batches(user_ids, users.tolist(), batch_size), len(user_ids))
    report.items = write("item", "publish.write_item_embeddings", {"property": props.item, "mips": props.mips},
                         _batches(item_ids, items.tolist(), batch_size, augmented.tolist()), len(item_ids))
    report.missing = {"user": len(user_ids) - report.users, "item": len(item_ids) - report.items}
    if report.items == 0 or report.users == 0:
        raise GraphrecError(f"run {run.id}: none of its {'items' if report.items == 0 else 'users'} are in the graph "
                            f"at {graph.uri}; publish it to the graph it was trained on")

    with progress("build the item vector index", 1) as advance:
        create_index(graph, index, int(items.shape[1]) + index.pad, timeout=index_timeout)
        advance(1)
    graph.write("publish.finish_run", id=run.id, now=_now(), users=report.users, items=report.items)
    if serve:
        switch(graph, run.id)
        report.serving = True
    return report


def create_index(graph: Graph, index: VectorIndex, dimensions: int, timeout: int = 600) -> None:
    """Create ``index`` if it does not exist and wait until it serves."""
    graph.write("publish.create_vector_index", {"index": index.name, "property": index.property},
                dimensions=dimensions)
    graph.write("publish.await_index", index=index.name, seconds=timeout)


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
    for label, prop in (("User", meta["user_property"]), ("Item", meta["item_property"]), ("Item", meta["mips_property"])):
        while graph.write("publish.remove_property", {"label": label, "property": prop}, batch=batch_size)[0]["removed"]:
            pass
    graph.write("publish.delete_run", id=run_id)
