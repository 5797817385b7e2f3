"""How an ingest cuts and spreads its edge writes, without a server: knobs checked before any write, batches of exactly
``batch_edges`` edges, writers on disjoint source nodes, and one failed writer stopping the others."""

from __future__ import annotations

import threading

import pytest

from graphrec.errors import ConfigError, DatabaseError
from graphrec.ingest import BATCH_EDGES, WRITERS, _batches, _plan, _write_edges, ingest
from loaders.records import Dataset, Interaction


class RecordingGraph:
    """Stands in for graphrec.db.connect.Graph: records every batch written, by the thread that wrote it."""

    def __init__(self, fail_on: str | None = None):
        self.batches: list[tuple[str, list[dict]]] = []
        self.fail_on = fail_on          # a source id whose writer fails on its first batch
        self.failed = threading.Event()
        self.lock = threading.Lock()

    def write_batches(self, name, batches, on_batch=None, identifiers=None, **params):
        for rows in batches:
            if self.fail_on is not None and any(row["user"] == self.fail_on for row in rows):
                self.failed.set()
                raise DatabaseError(f"{name} failed on bolt://fake: Neo.TransientError.General.OutOfMemoryError")
            if self.fail_on is not None:
                self.failed.wait(5)     # the healthy writers go on only once the other one has failed
            with self.lock:
                self.batches.append((threading.current_thread().name, rows))
            if on_batch:
                on_batch(rows)
        return 0

    def apply_schema(self):
        raise AssertionError("nothing may be written before the knobs are checked")


def groups(n_users: int, edges_each: int) -> dict[str, list[dict]]:
    return {f"u{u}": [{"user": f"u{u}", "split": "train", "items": [f"i{u}-{k}" for k in range(edges_each)]}]
            for u in range(n_users)}


@pytest.mark.parametrize("knob, value, wanted", [
    ("batch_edges", 0, "batch_edges must be a whole number at least 1, got 0"),
    ("batch_edges", -5, "batch_edges must be a whole number at least 1, got -5"),
    ("batch_edges", 2.5, "batch_edges must be a whole number at least 1, got 2.5"),
    ("writers", 0, "writers must be a whole number between 1 and 32, got 0"),
    ("writers", 33, "writers must be a whole number between 1 and 32, got 33"),
    ("writers", True, "writers must be a whole number between 1 and 32, got True"),
])
def test_bad_knobs_are_refused_before_any_write(knob, value, wanted):
    dataset = Dataset("d", interactions=[Interaction("u1", "i1", split="train")])
    with pytest.raises(ConfigError, match=rf"^ingest: {wanted} \(default \d+\)$"):
        ingest(RecordingGraph(), dataset, **{knob: value})


def test_defaults_are_sensible():
    assert BATCH_EDGES >= 1_000 and 1 <= WRITERS <= 4


def test_batches_hold_exactly_batch_edges_edges_and_cut_long_rows():
    rows = [{"user": "a", "items": list(range(7))}, {"user": "b", "items": list(range(2))},
            {"user": "c", "items": list(range(9))}]
    batches = list(_batches(rows, "items", 4))
    assert [sum(len(r["items"]) for r in b) for b in batches] == [4, 4, 4, 4, 2]
    assert [(r["user"], r["items"]) for b in batches for r in b] == [
        ("a", [0, 1, 2, 3]), ("a", [4, 5, 6]), ("b", [0]), ("b", [1]), ("c", [0, 1, 2]), ("c", [3, 4, 5, 6]),
        ("c", [7, 8])]
    assert rows[0]["items"] == list(range(7))  # the caller's rows are not changed
    assert list(_batches([], "items", 4)) == []


@pytest.mark.parametrize("writers", [1, 2, 3, 8])
def test_writers_share_the_source_nodes_disjointly_and_write_every_edge_once(writers):
    graph, advanced = RecordingGraph(), []
    _write_edges(graph, "ingest.create_unweighted_interactions", groups(10, 7), "items", 5, writers, advanced.append)
    written = [item for _, rows in graph.batches for row in rows for item in row["items"]]
    assert sorted(written) == sorted(f"i{u}-{k}" for u in range(10) for k in range(7))
    assert sum(advanced) == 70
    users_by_writer: dict[str, set] = {}
    for thread, rows in graph.batches:
        users_by_writer.setdefault(thread, set()).update(row["user"] for row in rows)
    assert len(users_by_writer) == min(writers, 10)
    seen = [user for users in users_by_writer.values() for user in users]
    assert len(seen) == len(set(seen)) == 10   # no user is written by two writers


def test_one_writer_writes_from_the_calling_thread():
    graph = RecordingGraph()
    _write_edges(graph, "ingest.create_unweighted_interactions", groups(4, 3), "items", 5, 1, lambda n: None)
    assert {thread for thread, _ in graph.batches} == {threading.current_thread().name}


def test_a_failed_writer_stops_the_others_and_is_named():
    graph = RecordingGraph(fail_on="u1")
    with pytest.raises(DatabaseError, match=r"writer 2 of 2 running ingest\.create_unweighted_interactions failed, "
                                            r"so the others stopped after their current batch \(ingest\..*"
                                            r"OutOfMemoryError\).*run the same ingest again"):
        _write_edges(graph, "ingest.create_unweighted_interactions", groups(200, 3), "items", 3, 2, lambda n: None)
    healthy = [rows for thread, rows in graph.batches]
    assert all(row["user"] != "u1" for rows in healthy for row in rows)
    assert len(healthy) < 100   # writer 1 had 100 batches to write and stopped early


def parted_groups(n_users: int, n_items: int, parts: int) -> dict[str, list[dict]]:
    """Every user interacts with every item; item i is in part i mod ``parts``, each user's edges a row per part."""
    return {f"u{u}": [{"user": f"u{u}", "split": "train", "part": p,
                       "items": [f"i{i}" for i in range(n_items) if i % parts == p]} for p in range(parts)]
            for u in range(n_users)}


class PhaseRecordingGraph(RecordingGraph):
    """Also records which batches ran at the same time: a phase ends when every writer of it has returned."""

    def __init__(self):
        super().__init__()
        self.calls: list[tuple[str, set]] = []   # (thread, items it wrote) per write_batches call, in start order

    def write_batches(self, name, batches, on_batch=None, identifiers=None, **params):
        items: set = set()
        with self.lock:
            self.calls.append((threading.current_thread().name, items))
        for rows in batches:
            items.update(item for row in rows for item in row["items"])
        return super().write_batches(name, [], on_batch, identifiers) or 0


@pytest.mark.parametrize("writers", [2, 3])
def test_writers_with_parted_targets_never_share_a_node_within_a_phase(writers):
    graph = PhaseRecordingGraph()
    _write_edges(graph, "ingest.create_unweighted_interactions", parted_groups(7, 12, writers), "items", 4, writers,
                 lambda n: None)
    assert len(graph.calls) == writers * writers           # one call per writer per phase
    phases = [graph.calls[k:k + writers] for k in range(0, len(graph.calls), writers)]
    for phase in phases:
        assert len({thread for thread, _ in phase}) == writers
        seen = [item for _, items in phase for item in items]
        assert len(seen) == len(set(seen))                  # no item written by two writers in one phase
    # every writer meets every part once, and together they write each (user, item) edge exactly once
    for thread in {thread for thread, _ in graph.calls}:
        mine = [items for name, items in graph.calls if name == thread]
        assert sorted(len(items) for items in mine) == sorted(len([i for i in range(12) if i % writers == p])
                                                              for p in range(writers))


def test_plan_puts_each_row_once_and_keeps_sources_to_one_writer():
    groups = parted_groups(9, 6, 2)
    phases = _plan(groups, "items", 2)
    rows = [(k, row) for shares in phases for k, share in enumerate(shares) for row in share]
    assert sorted((row["user"], row["part"]) for _, row in rows) == sorted((u, p) for u in groups for p in range(2))
    writer_of: dict[str, set] = {}
    for k, row in rows:
        writer_of.setdefault(row["user"], set()).add(k)
    assert all(len(ks) == 1 for ks in writer_of.values())
    for shares in phases:                                   # within a phase, the writers' parts differ
        assert len({row["part"] for share in shares for row in share[:1]}) == len([s for s in shares if s])
    assert len(_plan({"u1": [{"user": "u1", "items": ["i"]}]}, "items", 4)) == 1   # no parts: one phase
