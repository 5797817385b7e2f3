"""Ingest: a loaded :class:`~loaders.records.Dataset` into the graph, idempotently and in large batches.

Every file is parsed and validated by its loader before this module writes anything, so bad input leaves the graph as
it was. Writes then go in this order: schema, nodes, interactions, KG triples, social edges. For each kind graphrec
first reads what the graph already holds (a few large reads) and creates only what is missing, so

* a second ingest of the same files changes nothing (MERGE semantics, without MERGE's per-edge cost);
* an interrupted ingest (server killed, Ctrl-C, a failed batch) is finished by running it again: each batch is one
  transaction, so the graph holds whole batches, and the re-run creates exactly the rest.

Nodes are created with their properties in the same statement; properties of nodes already there are written only
where the source's values differ. Edges go through the ``UNWIND $rows`` statements of cypher/ingest.cypher in batches
of ``batch_edges`` edges, one row per source node (a user and split, a KG head, a follower) with its new edges in a
list, and both ends named by their internal node ids (``id(n)``), read at the start: a seek by node id costs a fraction
of a seek in the id constraint's index (which in a write query also locks the index entry), and an integer travels and
parses faster than an element id's ~40-character string.

``writers`` sessions write edges at once, each on its own disjoint share of the source nodes, so two writers never
lock the same user. Where the other ends are nodes of another label (items, a KG's entities) those are dealt into as
many parts and the writes go in phases, each writer on another part in each phase (:func:`_plan`): Neo4j locks both
ends of a new relationship until commit, so writers sharing items would wait for each other's commits; these never
lock the same node at once. (They can still meet on a relationship: linking a new one into a node's chain locks the
chain's first, which an earlier phase may have linked into the other writer's node too; the rare deadlock that follows
fails one transaction, which the driver redoes.) When one writer fails, the others stop after their current batch
and the ingest raises a :class:`~graphrec.errors.DatabaseError` naming the statement and the writer. The defaults are
what measured fastest on the Gowalla split on 2 cores (BENCHMARKS.md, "Ingest speed"): 10,000 edges a transaction (a
transaction's state lives on the server's heap until commit, and with two writers at 20,000 edges the garbage
collector took a quarter of the server's CPU, at 10,000 a tenth) and two writers.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Hashable, Iterable, Iterator, Sequence

from graphrec import provenance
from graphrec.db import names
from graphrec.db.connect import Graph, retried_transactions
from graphrec.errors import ConfigError, DatabaseError, GraphrecError, InputError
from graphrec.progress import Advance, Progress, silent
from loaders.records import SPLITS, Dataset

NODE_BATCH = 10_000
BATCH_EDGES = 10_000   # edges per transaction
WRITERS = 2            # parallel writer sessions
MAX_WRITERS = 32


@dataclass
class IngestReport:
    dataset: str
    created: dict = field(default_factory=dict)    # kind -> count created now
    present: dict = field(default_factory=dict)    # kind -> count already in the graph (skipped)
    updated: dict = field(default_factory=dict)    # kind -> count whose properties changed
    duplicates: int = 0                            # repeated rows in the source, kept once
    conflicts: int = 0                             # of those, interactions repeated with another weight or time
    seconds: dict = field(default_factory=dict)    # stage -> wall seconds
    method: str = "bolt"                           # "bolt", or "offline" (Neo4j's importer, graphrec.firstload)
    retried: int = 0                               # write transactions the driver redid (a deadlock between writers)

    @property
    def interactions_per_second(self) -> float:
        secs = self.seconds.get("interactions", 0.0)
        return self.created.get("interactions", 0) / secs if secs else 0.0


def _count(name: str, value, default: int, most: int | None = None) -> int:
    """A whole-number knob of :func:`ingest`, checked before anything is written."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or (most is not None and value > most):
        limit = f"between 1 and {most}" if most is not None else "at least 1"
        raise ConfigError(f"ingest: {name} must be a whole number {limit}, got {value!r} (default {default})")
    return value


def _chunks(rows: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def _batches(rows: Iterable[dict], edges: str, size: int) -> Iterator[list[dict]]:
    """Batches of exactly ``size`` edges (the last one fewer) from rows that hold their edges in a list under
    ``edges``; a row that straddles a batch boundary is cut in two."""
    batch, room = [], size
    for row in rows:
        todo = row[edges]
        while len(todo) >= room:
            batch.append({**row, edges: todo[:room]})
            yield batch
            todo, batch, room = todo[room:], [], size
        if todo:
            batch.append({**row, edges: todo})
            room -= len(todo)
    if batch:
        yield batch


def _parts(weights: dict[Hashable, int], n: int) -> dict[Hashable, int]:
    """Spread the keys of ``weights`` over ``n`` parts of about equal total weight: heaviest first, each into the
    lightest part so far."""
    lightest = [(0, k) for k in range(n)]
    part = {}
    for key, weight in sorted(weights.items(), key=lambda kv: -kv[1]):
        load, k = heapq.heappop(lightest)
        part[key] = k
        heapq.heappush(lightest, (load + weight, k))
    return part


def _plan(groups: dict[str, list[dict]], edges: str, writers: int) -> list[list[list[dict]]]:
    """The edge writes as phases, each a list of rows per writer. The source nodes go to the writers in shares of
    about equal edges. Rows with a ``part`` (their edges' other ends are the caller's part ``part`` of ``writers``
    disjoint parts of nodes of another label) are written in ``writers`` phases: in phase p writer k writes the rows of
    its sources into part (k + p) mod ``writers``, so within a phase no two writers lock the same node. Neo4j locks
    both ends of a new relationship until commit, so writers that share targets wait for each other's commits; these
    only meet, now and then, on a relationship at the head of a chain that an earlier phase built. Rows without a part
    (users following users: both ends one label) go in one phase, the writers sharing targets."""
    n = min(writers, len(groups))
    share = _parts({source: sum(len(row[edges]) for row in rows) for source, rows in groups.items()}, n)
    rows = [(share[source], row) for source, rows in groups.items() for row in rows]
    phased = n > 1 and all("part" in row for _, row in rows)
    phases: list[list[list[dict]]] = [[[] for _ in range(n)] for _ in range(n if phased else 1)]
    for k, row in rows:
        phases[(row["part"] - k) % n if phased else 0][k].append(row)
    return phases


def _write_edges(graph: Graph, statement: str, groups: dict[str, list[dict]], edges: str, batch_edges: int,
                 writers: int, advance: Advance, identifiers: dict | None = None) -> None:
    """Write ``groups`` (source node -> its rows) with ``statement`` by up to ``writers`` sessions at once, each on a
    disjoint share of the source nodes and, for rows tagged with the ``part`` of their targets, in phases on disjoint
    targets too (:func:`_plan`); one transaction per batch of ``batch_edges`` edges."""
    lock = threading.Lock()

    def on_batch(batch: Sequence[dict]) -> None:
        with lock:
            advance(sum(len(row[edges]) for row in batch))

    for shares in _plan(groups, edges, writers):
        _run_writers(graph, statement, shares, edges, batch_edges, on_batch, identifiers)


def _run_writers(graph: Graph, statement: str, shares: list[list[dict]], edges: str, batch_edges: int,
                 on_batch: Callable[[Sequence[dict]], None], identifiers: dict | None) -> None:
    """One session per non-empty share, at once (the only share of a single writer is written from the calling
    thread)."""
    if len(shares) <= 1:
        for share in shares:
            graph.write_batches(statement, _batches(share, edges, batch_edges), on_batch=on_batch,
                                identifiers=identifiers)
        return

    stop = threading.Event()
    failures: list[tuple[int, BaseException]] = []

    def until_stopped(batches: Iterator[list[dict]]) -> Iterator[list[dict]]:
        for batch in batches:
            if stop.is_set():
                return
            yield batch

    def writer(k: int, share: list[dict]) -> None:
        try:
            graph.write_batches(statement, until_stopped(_batches(share, edges, batch_edges)), on_batch=on_batch,
                                identifiers=identifiers)
        except BaseException as exc:  # reported by the calling thread, below
            failures.append((k, exc))
            stop.set()

    threads = [threading.Thread(target=writer, args=(k, share), name=f"graphrec-ingest-{k + 1}", daemon=True)
               for k, share in enumerate(shares) if share]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(0.1)  # a timed join lets Ctrl-C reach this thread
    except BaseException:
        stop.set()  # the other writers finish their current transaction, then stop
        for thread in threads:
            thread.join()
        raise
    if failures:
        k, exc = failures[0]
        reason = str(exc) if isinstance(exc, GraphrecError) else f"{type(exc).__name__}: {exc}"
        raise DatabaseError(f"writer {k + 1} of {len(shares)} running {statement} failed, so the others stopped "
                            f"after their current batch ({reason}); the graph holds whole batches only: run the same "
                            "ingest again to finish it") from exc


def check_dataset(dataset: Dataset) -> None:
    """Dataset-level checks the loaders cannot make alone (labels, splits), before any write."""
    where = str(dataset.sources[0]) if dataset.sources else dataset.name
    for it in dataset.interactions:
        if it.split is not None and it.split not in SPLITS:
            raise InputError(where, f"interaction {it.user}->{it.item} has split {it.split!r}; expected one of {SPLITS}")
    for t in dataset.triples:
        names.node_label(t.head_label)
        names.node_label(t.tail_label)
    for node in dataset.nodes:
        names.node_label(node.label)
        for extra in node.extra_labels:
            names.extra_label(extra)


def _existing_nodes(graph: Graph, label: str, keys: list[str]) -> tuple[dict[str, str], dict[str, dict]]:
    """Business id -> internal node id of every node with ``label``, and business id -> its values of ``keys``."""
    row = graph.read("ingest.existing_nodes", {"label": label}, keys=keys)[0]
    return dict(zip(row["ids"], row["nodes"])), {i: dict(zip(keys, values)) for i, values in zip(row["ids"],
                                                                                               row["values"])}


def node_attributes(dataset: Dataset) -> tuple[dict[str, dict[str, dict]], dict[tuple[str, str], list[str]]]:
    """The source's node properties (label -> id -> properties, a later row's value winning) and extra labels
    ((label, extra label) -> ids)."""
    props: dict[str, dict[str, dict]] = defaultdict(dict)
    extra: dict[tuple[str, str], list[str]] = defaultdict(list)
    for node in dataset.nodes:
        if node.props:
            props[node.label].setdefault(node.id, {}).update(node.props)
        for label in node.extra_labels:
            extra[(node.label, names.extra_label(label))].append(node.id)
    return props, extra


def _write_nodes(graph: Graph, dataset: Dataset, report: IngestReport, progress: Progress,
                 wanted: dict[str, set[str]]) -> dict[str, dict[str, str]]:
    """Create the missing nodes (``wanted``: the ids per label, :func:`graphrec.provenance.dataset_ids`) with their
    properties, set the properties of those already there and the extra labels; returns business id -> internal node
    id per label."""
    props, extra = node_attributes(dataset)
    internal_ids: dict[str, dict[str, str]] = {}
    for label, ids in wanted.items():
        keys = sorted({key for values in props[label].values() for key in values})
        existing, stored = _existing_nodes(graph, label, keys) if ids else ({}, {})
        missing = sorted(ids - existing.keys())
        report.created[label] = len(missing)
        report.present[label] = len(ids) - len(missing)
        if missing:
            rows = [{"id": i, "props": props[label].get(i, {})} for i in missing]
            with progress(f"nodes :{label}", len(missing)) as advance:
                graph.write_batches("ingest.create_nodes", _chunks(rows, NODE_BATCH),
                                    on_batch=lambda rows: advance(len(rows)), identifiers={"label": label})
        changed = [{"id": i, "props": values} for i, values in props[label].items()
                   if i in existing and any(stored[i].get(key) != value for key, value in values.items())]
        if changed:
            graph.write_batches("ingest.set_properties", _chunks(changed, NODE_BATCH), identifiers={"label": label})
        report.updated[label] = len(changed)
        internal_ids[label] = _existing_nodes(graph, label, [])[0] if missing else existing
    for (label, extra_label), ids in extra.items():
        rows = [{"id": i} for i in ids]
        graph.write_batches("ingest.add_label", _chunks(rows, NODE_BATCH), identifiers={"label": label,
                                                                                         "extra": extra_label})
    return internal_ids


def _parted(internal_ids: dict[str, str], writers: int) -> dict[str, tuple[str, int]]:
    """Business id -> (internal node id, part): the nodes dealt round into ``writers`` parts, for writers that each write
    into one part at a time (:func:`_plan`). The order is the graph's, unrelated to degree, so the parts' edges come
    out about even."""
    return {node: (internal_id, k % writers) for k, (node, internal_id) in enumerate(internal_ids.items())}


def wanted_interactions(dataset: Dataset, report: IngestReport) -> dict[tuple[str, str, str | None], tuple]:
    """(user, item, split) -> (weight, ts) of each interaction once, counting repeats in ``report``."""
    wanted: dict[tuple, tuple] = {}
    for it in dataset.interactions:
        key = (it.user, it.item, it.split)
        if key in wanted and wanted[key] != (it.weight, it.ts):
            report.conflicts += 1  # the same interaction twice with another weight or time: the last row wins
        wanted[key] = (it.weight, it.ts)
    report.duplicates += len(dataset.interactions) - len(wanted)
    return wanted


def _write_interactions(graph: Graph, dataset: Dataset, report: IngestReport, progress: Progress,
                        internal_ids: dict[str, dict[str, str]], batch_edges: int, writers: int) -> None:
    wanted = wanted_interactions(dataset, report)
    existing: dict[tuple, tuple] = {}
    for row in graph.stream("ingest.existing_interactions") if wanted else ():
        user, split = row["user"], row["split"]
        existing.update(((user, item, split), (None, None)) for item in row["items"])
        for item, weight, ts in row["weighted"]:
            existing[(user, item, split)] = (weight, ts)

    # Sources without weights and timestamps (Gowalla ...) use a statement that carries nothing per edge but the item.
    unweighted = all(w is None and t is None for w, t in wanted.values())
    users, items = internal_ids["User"], _parted(internal_ids["Item"], writers)
    new: dict[str, dict[tuple, list]] = defaultdict(lambda: defaultdict(list))
    changed = []
    for key, (weight, ts) in wanted.items():
        old = existing.get(key)
        if old is None:
            user, item, split = key
            internal_id, part = items[item]
            new[user][(split, part)].append(internal_id if unweighted else [internal_id, weight, ts])
        elif old != (weight, ts):
            changed.append({"user": key[0], "item": key[1], "split": key[2], "weight": weight, "ts": ts})
    del existing
    edges = "items" if unweighted else "edges"
    groups = {user: [{"user": users[user], "split": split, "part": part, edges: these}
                     for (split, part), these in by_part.items()] for user, by_part in new.items()}
    total = sum(len(row[edges]) for rows in groups.values() for row in rows)
    report.created["interactions"] = total
    report.present["interactions"] = len(wanted) - total - len(changed)
    report.updated["interactions"] = len(changed)
    start = time.perf_counter()
    if total:
        statement = "ingest.create_unweighted_interactions" if unweighted else "ingest.create_interactions"
        with progress("interactions", total) as advance:
            _write_edges(graph, statement, groups, edges, batch_edges, writers, advance)
    if changed:
        graph.write_batches("ingest.update_interactions", _chunks(changed, NODE_BATCH))
    report.seconds["interactions"] = time.perf_counter() - start


def wanted_triples(dataset: Dataset,
                   report: IngestReport) -> dict[tuple[str, str, str], dict[tuple[str, str, str], None]]:
    """(head label, relationship type, tail label) -> {(head, relation, tail)} of each triple once, in the source's
    order, counting repeats in ``report``."""
    wanted: dict[tuple[str, str, str], dict[tuple[str, str, str], None]] = defaultdict(dict)
    for t in dataset.triples:
        triples = wanted[(t.head_label, names.relationship_type(t.relation), t.tail_label)]
        if (t.head, t.relation, t.tail) in triples:
            report.duplicates += 1
        triples[(t.head, t.relation, t.tail)] = None
    return wanted


def _write_triples(graph: Graph, dataset: Dataset, report: IngestReport, progress: Progress,
                   internal_ids: dict[str, dict[str, str]], batch_edges: int, writers: int) -> None:
    wanted = wanted_triples(dataset, report)
    # (head label, relationship type, tail label) -> (head, part of the tails) -> [[tail node id, relation], ...]
    # of the triples not in the graph yet
    kinds: dict[tuple[str, str, str], dict[tuple[str, int], list]] = defaultdict(lambda: defaultdict(list))
    tails = {label: _parted(internal_ids[label], writers) for label in {kind[2] for kind in wanted}}
    for (head_label, rel_type, tail_label), triples in wanted.items():
        slots = {"head_label": head_label, "type": rel_type, "tail_label": tail_label}
        existing = {(r["head"], r["relation"], r["tail"]) for r in graph.stream("ingest.existing_triples", slots)}
        for head, relation, tail in triples:
            if (head, relation, tail) not in existing:
                internal_id, part = tails[tail_label][tail]
                kinds[(head_label, rel_type, tail_label)][(head, part)].append([internal_id, relation])
    total = sum(len(edges) for heads in kinds.values() for edges in heads.values())
    report.created["triples"] = total
    report.present["triples"] = sum(len(triples) for triples in wanted.values()) - total
    if total:
        with progress("kg triples", total) as advance:
            for (head_label, rel_type, tail_label), heads in kinds.items():
                # Heads and tails of one label (Entity -> Entity) are the same nodes: no phases on disjoint tails.
                groups: dict[str, list[dict]] = defaultdict(list)
                for (head, part), edges in heads.items():
                    row = {"head": internal_ids[head_label][head], "edges": edges}
                    groups[head].append({**row, "part": part} if head_label != tail_label else row)
                _write_edges(graph, "ingest.create_triples", groups, "edges", batch_edges, writers, advance,
                             identifiers={"head_label": head_label, "type": rel_type, "tail_label": tail_label})


def wanted_social(dataset: Dataset, report: IngestReport) -> dict[tuple[str, str], float | None]:
    """(follower, followed) -> weight of each social edge once (its first row), counting repeats in ``report``."""
    wanted: dict[tuple[str, str], float | None] = {}
    for e in dataset.social:
        if (e.src, e.dst) in wanted:
            report.duplicates += 1
            continue
        wanted[(e.src, e.dst)] = e.weight
    return wanted


def _write_social(graph: Graph, dataset: Dataset, report: IngestReport, progress: Progress,
                  internal_ids: dict[str, dict[str, str]], batch_edges: int, writers: int) -> None:
    existing = {(r["src"], dst) for r in graph.stream("ingest.existing_follows") for dst in r["dsts"]} if (
        dataset.social) else set()
    users = internal_ids["User"]
    by_src: dict[str, list] = defaultdict(list)
    wanted = wanted_social(dataset, report)
    for (src, dst), weight in wanted.items():
        if (src, dst) not in existing:
            by_src[src].append([users[dst], weight])
    total = sum(len(v) for v in by_src.values())
    report.created["social"] = total
    report.present["social"] = len(wanted) - total
    if total:
        groups = {src: [{"src": users[src], "edges": edges}] for src, edges in by_src.items()}
        with progress("social edges", total) as advance:
            _write_edges(graph, "ingest.create_follows", groups, "edges", batch_edges, writers, advance)


def ingest(graph: Graph, dataset: Dataset, *, batch_edges: int | None = None, writers: int | None = None,
           merge: bool = False, progress: Progress = silent) -> IngestReport:
    """Write ``dataset`` into ``graph``; safe to repeat. Returns what was created, skipped and updated.

    ``batch_edges`` is the edges per transaction (default :data:`BATCH_EDGES`), ``writers`` the sessions that write
    edges at once (default :data:`WRITERS`; 1 writes from the calling thread only). A graph that holds another
    dataset, or nodes of another source with the same ids, is refused before anything is written unless ``merge``
    (see :mod:`graphrec.provenance`).
    """
    batch_edges = _count("batch_edges", batch_edges, BATCH_EDGES)
    writers = _count("writers", writers, WRITERS, MAX_WRITERS)
    check_dataset(dataset)
    report = IngestReport(dataset.name)
    retried_before = retried_transactions()
    start = time.perf_counter()
    graph.apply_schema()
    ids = provenance.dataset_ids(dataset)
    provenance.check(graph, dataset, ids, merge=merge)
    provenance.begin(graph, dataset, merge=merge)
    internal_ids = _write_nodes(graph, dataset, report, progress, ids)
    report.seconds["nodes"] = time.perf_counter() - start
    _write_interactions(graph, dataset, report, progress, internal_ids, batch_edges, writers)
    t = time.perf_counter()
    _write_triples(graph, dataset, report, progress, internal_ids, batch_edges, writers)
    report.seconds["triples"] = time.perf_counter() - t
    t = time.perf_counter()
    _write_social(graph, dataset, report, progress, internal_ids, batch_edges, writers)
    report.seconds["social"] = time.perf_counter() - t
    provenance.finish(graph, dataset, ids)
    report.seconds["total"] = time.perf_counter() - start
    report.retried = retried_transactions() - retried_before
    return report


def ingest_files(graph: Graph, format_name: str, path, *, options: dict | None = None, batch_edges: int | None = None,
                 writers: int | None = None, merge: bool = False, progress: Progress = silent) -> IngestReport:
    """Load ``path`` with the named loader (validating every file first), then ingest it."""
    import loaders

    dataset = loaders.load(format_name, path, **(options or {}))
    return ingest(graph, dataset, batch_edges=batch_edges, writers=writers, merge=merge, progress=progress)
