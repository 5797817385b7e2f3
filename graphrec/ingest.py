"""Ingest: a loaded :class:`~loaders.records.Dataset` into the graph, idempotently and in large batches.

Every file is parsed and validated by its loader before this module writes anything, so bad input leaves the graph as
it was. Writes then go in this order: schema, nodes, interactions, KG triples, social edges. For each kind graphrec
first reads what the graph already holds (a few large reads) and creates only what is missing, so

* a second ingest of the same files changes nothing (MERGE semantics, without MERGE's per-edge cost);
* an interrupted ingest (server killed, Ctrl-C) is finished by running it again: each batch is one transaction, so
  the graph holds whole batches, and the re-run creates exactly the rest.

Edges go through the ``UNWIND $rows`` statements of cypher/ingest.cypher, interactions grouped by user (one row per
user, its edges in a list), which measured several times faster than one row per edge.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Sequence

from graphrec.db import names
from graphrec.db.connect import Graph
from graphrec.errors import ConfigError, InputError
from graphrec.progress import Progress, silent
from loaders.records import SPLITS, Dataset

NODE_BATCH = 10_000
CYPHER_BATCH = 10_000  # edges per transaction on the Cypher path (5,000-10,000 measured fastest)


@dataclass
class IngestReport:
    dataset: str
    created: dict = field(default_factory=dict)    # kind -> count created now
    present: dict = field(default_factory=dict)    # kind -> count already in the graph (skipped)
    updated: dict = field(default_factory=dict)    # kind -> count whose properties changed
    duplicates: int = 0                            # repeated rows in the source, kept once
    seconds: dict = field(default_factory=dict)    # stage -> wall seconds

    @property
    def interactions_per_second(self) -> float:
        secs = self.seconds.get("interactions", 0.0)
        return self.created.get("interactions", 0) / secs if secs else 0.0


def _chunks(rows: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def _grouped_batches(groups: dict[str, list], key: str, field_name: str, batch_edges: int) -> Iterator[list[dict]]:
    """Rows ``{key: id, field_name: [...]}``, cut so that a batch holds about ``batch_edges`` edges."""
    batch, count = [], 0
    for ident, edges in groups.items():
        for start in range(0, len(edges), batch_edges):
            part = edges[start:start + batch_edges]
            batch.append({key: ident, field_name: part})
            count += len(part)
            if count >= batch_edges:
                yield batch
                batch, count = [], 0
    if batch:
        yield batch


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


def _write_nodes(graph: Graph, dataset: Dataset, report: IngestReport, progress: Progress) -> None:
    wanted: dict[str, set[str]] = {"User": set(), "Item": set(), "Entity": set()}
    for it in dataset.interactions:
        wanted["User"].add(it.user)
        wanted["Item"].add(it.item)
    for e in dataset.social:
        wanted["User"].update((e.src, e.dst))
    for t in dataset.triples:
        wanted[t.head_label].add(t.head)
        wanted[t.tail_label].add(t.tail)
    for node in dataset.nodes:
        wanted[node.label].add(node.id)

    for label, ids in wanted.items():
        existing = {row["id"] for row in graph.read("ingest.existing_ids", {"label": label})}
        missing = sorted(ids - existing)
        report.created[label] = len(missing)
        report.present[label] = len(ids & existing)
        if missing:
            with progress(f"nodes :{label}", len(missing)) as advance:
                graph.write_batches("ingest.create_nodes", _chunks([{"id": i} for i in missing], NODE_BATCH),
                                    on_batch=lambda rows: advance(len(rows)), identifiers={"label": label})

    props: dict[str, list[dict]] = defaultdict(list)
    extra: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for node in dataset.nodes:
        if node.props:
            props[node.label].append({"id": node.id, "props": node.props})
        for label in node.extra_labels:
            extra[(node.label, names.extra_label(label))].append({"id": node.id})
    for label, rows in props.items():
        graph.write_batches("ingest.set_properties", _chunks(rows, NODE_BATCH), identifiers={"label": label})
    for (label, extra_label), rows in extra.items():
        graph.write_batches("ingest.add_label", _chunks(rows, NODE_BATCH), identifiers={"label": label,
                                                                                         "extra": extra_label})


def _write_interactions(graph: Graph, dataset: Dataset, report: IngestReport, progress: Progress,
                        batch_edges: int) -> None:
    wanted: dict[tuple, tuple] = {}
    for it in dataset.interactions:
        wanted[(it.user, it.item, it.split)] = (it.weight, it.ts)
    report.duplicates += len(dataset.interactions) - len(wanted)

    existing: dict[tuple, tuple] = {}
    for row in graph.stream("ingest.existing_interactions"):
        for item, split, weight, ts in row["edges"]:
            existing[(row["user"], item, split)] = (weight, ts)

    by_user: dict[str, list] = defaultdict(list)
    changed = []
    # Sources without weights and timestamps (Gowalla ...) use a statement that writes no null properties.
    bare = all(w is None and t is None for w, t in wanted.values())
    for key, (weight, ts) in wanted.items():
        old = existing.get(key)
        if old is None:
            by_user[key[0]].append([key[1], key[2]] if bare else [key[1], key[2], weight, ts])
        elif old != (weight, ts):
            changed.append({"user": key[0], "item": key[1], "split": key[2], "weight": weight, "ts": ts})
    total = sum(len(v) for v in by_user.values())
    report.created["interactions"] = total
    report.present["interactions"] = len(wanted) - total - len(changed)
    report.updated["interactions"] = len(changed)
    start = time.perf_counter()
    if total:
        with progress("interactions", total) as advance:
            statement = "ingest.create_interactions_split" if bare else "ingest.create_interactions"
            graph.write_batches(statement, _grouped_batches(by_user, "user", "edges", batch_edges),
                                on_batch=lambda rows: advance(sum(len(r["edges"]) for r in rows)))
    if changed:
        graph.write_batches("ingest.update_interactions", _chunks(changed, NODE_BATCH))
    report.seconds["interactions"] = time.perf_counter() - start


def _write_triples(graph: Graph, dataset: Dataset, report: IngestReport, progress: Progress,
                   batch_edges: int) -> None:
    existing = {(r["head_label"], r["head"], r["relation"], r["tail_label"], r["tail"])
                for r in graph.stream("ingest.existing_triples")}
    groups: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    seen = set()
    for t in dataset.triples:
        key = (t.head_label, t.head, t.relation, t.tail_label, t.tail)
        if key in seen:
            report.duplicates += 1
            continue
        seen.add(key)
        if key not in existing:
            groups[(t.head_label, names.relationship_type(t.relation), t.tail_label)].append(
                {"head": t.head, "relation": t.relation, "tail": t.tail})
    total = sum(len(v) for v in groups.values())
    report.created["triples"] = total
    report.present["triples"] = len(seen) - total
    if total:
        with progress("kg triples", total) as advance:
            for (head_label, rel_type, tail_label), rows in groups.items():
                graph.write_batches("ingest.create_triples", _chunks(rows, batch_edges),
                                    on_batch=lambda rows: advance(len(rows)),
                                    identifiers={"head_label": head_label, "type": rel_type, "tail_label": tail_label})


def _write_social(graph: Graph, dataset: Dataset, report: IngestReport, progress: Progress,
                  batch_edges: int) -> None:
    existing = {(r["src"], dst) for r in graph.stream("ingest.existing_follows") for dst in r["dsts"]}
    by_src: dict[str, list] = defaultdict(list)
    seen = set()
    for e in dataset.social:
        if (e.src, e.dst) in seen:
            report.duplicates += 1
            continue
        seen.add((e.src, e.dst))
        if (e.src, e.dst) not in existing:
            by_src[e.src].append([e.dst, e.weight])
    total = sum(len(v) for v in by_src.values())
    report.created["social"] = total
    report.present["social"] = len(seen) - total
    if total:
        with progress("social edges", total) as advance:
            graph.write_batches("ingest.create_follows", _grouped_batches(by_src, "src", "dsts", batch_edges),
                                on_batch=lambda rows: advance(sum(len(r["dsts"]) for r in rows)))


def ingest(graph: Graph, dataset: Dataset, *, batch_edges: int | None = None,
           progress: Progress = silent) -> IngestReport:
    """Write ``dataset`` into ``graph``; safe to repeat. Returns what was created, skipped and updated.

    ``batch_edges`` is the edges per transaction (default 10,000).
    """
    check_dataset(dataset)
    if batch_edges is not None and batch_edges < 1:
        raise ConfigError(f"batch_edges must be at least 1, got {batch_edges}")
    batch_edges = batch_edges or CYPHER_BATCH
    report = IngestReport(dataset.name)
    start = time.perf_counter()
    graph.apply_schema()
    _write_nodes(graph, dataset, report, progress)
    report.seconds["nodes"] = time.perf_counter() - start
    _write_interactions(graph, dataset, report, progress, batch_edges)
    t = time.perf_counter()
    _write_triples(graph, dataset, report, progress, batch_edges)
    report.seconds["triples"] = time.perf_counter() - t
    t = time.perf_counter()
    _write_social(graph, dataset, report, progress, batch_edges)
    report.seconds["social"] = time.perf_counter() - t
    report.seconds["total"] = time.perf_counter() - start
    return report


def ingest_files(graph: Graph, format_name: str, path, *, options: dict | None = None,
                 batch_edges: int | None = None, progress: Progress = silent) -> IngestReport:
    """Load ``path`` with the named loader (validating every file first), then ingest it."""
    import loaders

    dataset = loaders.load(format_name, path, **(options or {}))
    return ingest(graph, dataset, batch_edges=batch_edges, progress=progress)
