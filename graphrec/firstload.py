"""The offline first load: a dataset into the embedded Neo4j's new database through Neo4j's own importer.

For a home whose database has never been created (and only the embedded server's: never a server of the user's own),
``graphrec ingest`` writes the dataset as CSV files and has ``neo4j-admin database import full`` build the store from
them (:mod:`graphrec.db.offline_import`), then starts the server, creates the schema and marks the ingest done: the
Gowalla split in a fraction of the time of the transactional writes (BENCHMARKS.md, "Ingest speed"). The graph is the
one :func:`graphrec.ingest.ingest` writes, down to each property's type:

* the rows are the same rows: validated by the loaders and :func:`graphrec.ingest.check_dataset` before anything is
  written, repeats kept once by the functions the Bolt path uses (:func:`graphrec.ingest.wanted_interactions` ...);
* nodes carry ``id``, the source's properties (a column holds one type, so rows whose values differ in type go to
  different files), their extra labels and ``graphrec_source``; the ``(:GraphrecSource)`` node is imported with what
  :func:`graphrec.provenance.record` gives, and marked done once the server runs;
* the uniqueness constraints are created on the running server, as every ingest does first.

A value the importer's CSV cannot carry (a list, a property name with ``:`` or ``,``) makes :func:`unfit` say so, and
the CLI then writes over Bolt. An import that fails or is interrupted leaves no database; a second ingest of the same
files goes over Bolt (the database exists then) and changes nothing.
"""

from __future__ import annotations

import math
import re
import time
from pathlib import Path
from typing import Iterable

from graphrec import provenance
from graphrec.config import Settings
from graphrec.db import offline_import
from graphrec.db.connect import connect
from graphrec.db.server import EmbeddedServer
from graphrec.errors import ConfigError
from graphrec.ingest import (IngestReport, check_dataset, node_attributes, wanted_interactions, wanted_social,
                             wanted_triples)
from graphrec.progress import Progress, silent
from loaders.records import Dataset

_KINDS = {str: "string", int: "long", float: "double", bool: "boolean"}   # Python type -> the CSV header's
_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_ .\-]*(?<! )$")   # a property name that is safe in a CSV header
_LONG = 2 ** 63


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _cell(value) -> str:
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _value_problem(value) -> str | None:
    kind = type(value)
    if kind not in _KINDS:
        return f"a {kind.__name__} value"
    if kind is int and not -_LONG <= value < _LONG:
        return "an integer beyond 64 bits"
    if kind is float and not math.isfinite(value):
        return "a value that is not finite"
    return None


def unfit(dataset: Dataset) -> str | None:
    """Why the importer's CSV cannot carry ``dataset`` as the Bolt path writes it; None when it can. (Interactions,
    triples and social edges carry strings and numbers from the loaders; node properties are the sources' own.)"""
    props, _ = node_attributes(dataset)
    for label, by_id in props.items():
        for node_id, values in by_id.items():
            for key, value in values.items():
                if key == "id" or value is None:
                    continue
                if not _KEY.match(key):
                    return f"the {label} property name {key!r} (the importer's CSV header takes letters, digits, _ . -)"
                if problem := _value_problem(value):
                    return f"{label} {node_id!r} has {key} = {value!r}, {problem}"
    for label, ids in provenance.dataset_ids(dataset).items():
        if "" in ids:
            return f"an empty {label} id"
    return None


class _Tables:
    """The importer's CSV files. Strings are always quoted, so that an empty field (no quotes) is a property the row
    does not have, and ``""`` an empty string."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True)
        self.nodes: list[Path] = []
        self.relationships: list[tuple[str, Path]] = []
        self.multiline = False
        self._files = 0

    def write(self, fixed: list[str], keys: tuple[str, ...], columns: list[list], rel_type: str | None = None) -> int:
        """Write one file of rows given column by column: the ``fixed`` header columns' strings, then the values of
        ``keys`` (None where a row has none), each key typed in the header by its values. A file of relationships of
        ``rel_type``, else of nodes. A column holds one type, so rows whose values of one key differ in type go to
        files of their own. Returns the number of rows."""
        values = columns[len(fixed):]
        kinds = []
        for key, column in zip(keys, values):
            found = set(map(type, column)) - {type(None)}
            if len(found) > 1:
                return self._by_kinds(fixed, keys, columns, rel_type)
            kind = found.pop() if found else None
            if kind is not None:
                present = [v for v in column if v is not None]
                if kind not in _KINDS or kind in (int, float):
                    for problem in filter(None, map(_value_problem, present)):
                        raise ConfigError(f"the offline importer cannot carry {problem} (property {key!r})")
            kinds.append(kind)
        header = fixed + [f"{key}:{_KINDS[kind]}" for key, kind in zip(keys, kinds) if kind is not None]
        cells = []
        for column, kind in zip(columns, [str] * len(fixed) + kinds):
            if kind is None:
                continue
            if kind is float:   # not through a set, where -0.0 and 0.0 are one
                cells.append(["" if value is None else repr(value) for value in column])
                continue
            formatted = {value: "" if value is None else _cell(value) for value in set(column)}
            if kind is str and any("\n" in cell or "\r" in cell for cell in formatted.values()):
                self.multiline = True
            cells.append(map(formatted.__getitem__, column))
        path = self.folder / f"{self._files:03d}.csv"
        self._files += 1
        with path.open("w", encoding="utf-8", newline="") as out:
            out.write("\n".join([",".join(header), *map(",".join, zip(*cells))]) + "\n")
        (self.relationships.append((rel_type, path)) if rel_type else self.nodes.append(path))
        return len(columns[0]) if columns else 0

    def _by_kinds(self, fixed: list[str], keys: tuple[str, ...], columns: list[list], rel_type: str | None) -> int:
        """:meth:`write` for rows whose values of one key differ in type: a file per combination of types."""
        groups: dict[tuple, list[int]] = {}
        for row, kinds in enumerate(zip(*(map(type, column) for column in columns[len(fixed):]))):
            groups.setdefault(kinds, []).append(row)
        for rows in groups.values():
            self.write(fixed, keys, [[column[r] for r in rows] for column in columns], rel_type)
        return len(columns[0])


def _columns(rows: Iterable[tuple], width: int) -> list[list]:
    """Rows as ``width`` columns."""
    columns = [list(column) for column in zip(*rows)]
    return columns or [[] for _ in range(width)]


def write_tables(dataset: Dataset, folder: Path, report: IngestReport, merge: bool = False,
                 progress: Progress = silent) -> _Tables:
    """Write ``dataset`` as the importer's CSV files into ``folder`` (new), counting into ``report`` what will be
    created and the repeats kept once, as :func:`graphrec.ingest.ingest` counts them."""
    ids = provenance.dataset_ids(dataset)
    props, extra = node_attributes(dataset)
    labels: dict[tuple[str, str], list[str]] = {}   # (label, id) -> all its labels, of the nodes with extra ones
    for (label, extra_label), with_it in extra.items():
        for node_id in with_it:
            these = labels.setdefault((label, node_id), [label])
            if extra_label not in these:
                these.append(extra_label)
    interactions = wanted_interactions(dataset, report)
    triples = wanted_triples(dataset, report)
    social = wanted_social(dataset, report)
    total = sum(map(len, ids.values())) + len(interactions) + sum(map(len, triples.values())) + len(social)

    tables = _Tables(folder)
    with progress("csv for the importer", total) as advance:
        for label, wanted in ids.items():
            given = props[label]
            keys = tuple(sorted({"graphrec_source"} | {key for values in given.values()
                                                        for key, value in values.items() if value is not None} - {"id"}))
            rows = ((node_id, ";".join(labels.get((label, node_id), [label])),
                     *(given.get(node_id, {}).get(key, dataset.key if key == "graphrec_source" else None)
                       for key in keys)) for node_id in sorted(wanted))
            advance(tables.write([f"id:ID({label})", ":LABEL"], keys, _columns(rows, 2 + len(keys))))
        source = provenance.record(dataset, merge)
        tables.write([":LABEL"], tuple(source), [["GraphrecSource"], *([value] for value in source.values())])
        pairs, values = list(interactions), list(interactions.values())
        advance(tables.write([":START_ID(User)", ":END_ID(Item)"], ("split", "weight", "ts"), [
            [k[0] for k in pairs], [k[1] for k in pairs], [k[2] for k in pairs], [v[0] for v in values],
            [v[1] for v in values]], rel_type="INTERACTED"))
        for (head_label, rel_type, tail_label), facts in triples.items():
            advance(tables.write([f":START_ID({head_label})", f":END_ID({tail_label})"], ("relation",),
                                 _columns(((head, tail, relation) for head, relation, tail in facts), 3), rel_type))
        if social:
            advance(tables.write([":START_ID(User)", ":END_ID(User)"], ("weight",), _columns(
                ((src, dst, weight) for (src, dst), weight in social.items()), 3), rel_type="FOLLOWS"))

    for label, wanted in ids.items():
        report.created[label], report.present[label] = len(wanted), 0
    counts = {"interactions": len(interactions), "triples": sum(map(len, triples.values())), "social": len(social)}
    report.created.update(counts)
    report.present.update(dict.fromkeys(counts, 0))
    report.updated.update(dict.fromkeys([*ids, "interactions"], 0))
    return tables


def refusal(settings: Settings, dataset: Dataset) -> str | None:
    """Why ``dataset`` cannot be the first load of the configured database through the importer; None when it can."""
    if not settings.embedded:
        return "the graph is a Neo4j server of your own (NEO4J_URI), which only takes writes over Bolt"
    return offline_import.refusal(EmbeddedServer.of(settings)) or unfit(dataset)


def first_load(settings: Settings, dataset: Dataset, *, merge: bool = False,
               progress: Progress = silent) -> IngestReport:
    """Build the embedded server's new database from ``dataset`` with Neo4j's offline importer, then start the server
    and create the schema. ConfigError (nothing written) when :func:`refusal` gives a reason."""
    check_dataset(dataset)
    reason = refusal(settings, dataset)
    if reason:
        raise ConfigError(f"{dataset.key}: the offline importer cannot load it: {reason}; ingest without --offline")
    server = EmbeddedServer.of(settings)
    report = IngestReport(dataset.name, method="offline")
    start = time.perf_counter()
    with offline_import.staged(server) as folder:
        tables = write_tables(dataset, folder / "csv", report, merge, progress)
        report.seconds["csv"] = time.perf_counter() - start
        t = time.perf_counter()
        _import(server, tables, progress)
        report.seconds["import"] = time.perf_counter() - t
    t = time.perf_counter()
    with progress("starting the server", 1) as advance:
        graph = connect(settings)
        advance(1)
    report.seconds["start"] = time.perf_counter() - t
    t = time.perf_counter()
    with graph:
        graph.apply_schema()
        provenance.finish(graph, dataset, {})   # every node was imported with its graphrec_source
    report.seconds["schema"] = time.perf_counter() - t
    report.seconds["total"] = time.perf_counter() - start
    return report


def _import(server: EmbeddedServer, tables: _Tables, progress: Progress) -> None:
    """Run the importer, one progress bar per stage of it."""
    stage = None
    state = {"advance": lambda n: None, "done": 0}

    def on_stage(k: int, name: str) -> None:
        nonlocal stage
        if stage is not None:
            stage.__exit__(None, None, None)
        stage = progress(f"import {k}/{offline_import.STAGES}: {name.lower()} (%)", 100)
        state.update(advance=stage.__enter__(), done=0)

    def on_percent(percent: int) -> None:
        state["advance"](percent - state["done"])
        state["done"] = percent

    try:
        offline_import.run_import(server, tables.nodes, tables.relationships, multiline=tables.multiline,
                                  on_stage=on_stage, on_percent=on_percent)
    finally:
        if stage is not None:
            stage.__exit__(None, None, None)
