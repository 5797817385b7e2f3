"""Neo4j's offline importer (``neo4j-admin database import full``) building the embedded server's first store.

The importer writes a store from CSV files without a running server, several times faster than any transaction can
(BENCHMARKS.md, "Ingest speed"), but only into a database that does not exist yet. So it runs here only for the
embedded server of a home whose database has never been created, and never half-way into the real one: it writes
into a staging folder (``<home>/neo4j/offline-import/data``, given to the importer as ``server.directories.data``),
and only when it succeeded are the new store and its transaction logs moved into ``data/`` (two renames on one file
system, with Ctrl-C and SIGTERM held back in between). An import that fails or is interrupted leaves the home as it
was; the staging folder it leaves behind is deleted by the next import before it starts. One import at a time holds
the home (a lock on ``offline-import.lock``, released by the system when its process ends).
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import re
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Callable, Iterator

from graphrec.db import distribution
from graphrec.db.server import DATABASE, EmbeddedServer
from graphrec.errors import ServerError

STAGES = 4   # node import, relationship import, relationship linking, post processing
_STAGE = re.compile(r"^\((\d+)/(\d+)\) (.+?) \d{4}-\d\d-\d\d")
_PERCENT = re.compile(r"\s(\d{1,3})% ∆")


def staging(server: EmbeddedServer) -> Path:
    return server.root / "offline-import"


@contextlib.contextmanager
def staged(server: EmbeddedServer) -> Iterator[Path]:
    """Hold the home for one import and give it an empty staging folder, deleted afterwards whatever happens.
    ServerError when another import holds the home."""
    server.root.mkdir(parents=True, exist_ok=True)
    with (server.root / "offline-import.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ServerError(f"another offline import into {server.root} is running; wait for it to end") from None
        folder = staging(server)
        shutil.rmtree(folder, ignore_errors=True)   # an interrupted import's leftovers
        folder.mkdir()
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def refusal(server: EmbeddedServer) -> str | None:
    """Why the embedded server in ``server.home`` cannot get its store from the importer now; None when it can."""
    if server.status().running:
        return "the embedded server is running"
    if server.has_store():
        return "the embedded database exists already, and the importer only builds a new one"
    return None


def run_import(server: EmbeddedServer, nodes: list[Path], relationships: list[tuple[str, Path]], *,
               multiline: bool = False, on_stage: Callable[[int, str], None] | None = None,
               on_percent: Callable[[int], None] | None = None) -> None:
    """Import the CSV files into ``server``'s database (which must not exist yet), staged and swapped in on success.

    ``nodes`` are files whose header names the ids, labels and typed properties; ``relationships`` pairs a
    relationship type with such a file. ``on_stage(k, name)`` is called as the importer begins its stage k of
    :data:`STAGES`, ``on_percent(p)`` as it reports p% of the current one. ServerError (the importer's last lines)
    when it fails; the home is then as it was.
    """
    _check(server)
    stage_dir = staging(server)
    data = stage_dir / "data"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    config = stage_dir / "import.conf"
    config.write_text(f"server.directories.data={data}\n")
    lib = distribution.ensure_jars()
    java = distribution.find_java()
    # The database first: --nodes and --relationships take every argument after them that is not an option.
    args = ["database", "import", "full", DATABASE, f"--additional-config={config}", "--bad-tolerance=0",
            f"--report-file={stage_dir / 'import.report'}", f"--max-off-heap-memory={server.pagecache}",
            *(f"--nodes={path}" for path in nodes),
            *(f"--relationships={rel_type}={path}" for rel_type, path in relationships)]
    if multiline:
        args.append("--multiline-fields=true")
    command, env = server.admin(java, lib, *args, jvm=(f"-Xmx{server.heap}",))
    try:
        tail = _follow(command, env, server.root, on_stage, on_percent)
        store, logs = data / "databases" / DATABASE, data / "transactions" / DATABASE
        if not store.is_dir() or not logs.is_dir():
            raise ServerError(f"Neo4j's importer ended without building {store}:\n{tail}")
        _swap_in(server, store, logs)
    finally:
        shutil.rmtree(data, ignore_errors=True)


def _follow(command: list[str], env: dict, cwd: Path, on_stage: Callable[[int, str], None] | None,
            on_percent: Callable[[int], None] | None) -> str:
    """Run the importer, reading its progress lines as they come; its last lines when it succeeded, ServerError with
    them when it did not. Interrupted (Ctrl-C), it is stopped before the interruption goes on."""
    last: collections.deque[str] = collections.deque(maxlen=30)
    with _process(command, env, cwd) as process:
        assert process.stdout is not None
        for line in process.stdout:
            last.append(line.rstrip())
            if (stage := _STAGE.match(line)) and on_stage:
                on_stage(int(stage.group(1)), stage.group(3))
            elif (percent := _PERCENT.search(line)) and on_percent:
                on_percent(int(percent.group(1)))
        code = process.wait()
    tail = "\n".join(last)
    if code != 0:
        raise ServerError(f"Neo4j's offline importer failed (exit status {code}); the database was left as it was. "
                          f"Its last lines:\n{tail}")
    return tail


@contextlib.contextmanager
def _process(command: list[str], env: dict, cwd: Path) -> Iterator[subprocess.Popen]:
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, text=True, encoding="utf-8", errors="replace")
    try:
        yield process
    finally:
        if process.poll() is None:   # interrupted: the importer must not go on writing into the staging folder
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()


def _check(server: EmbeddedServer) -> None:
    reason = refusal(server)
    if reason:
        raise ServerError(f"the offline importer cannot build the database in {server.root}: {reason}")


def _swap_in(server: EmbeddedServer, store: Path, logs: Path) -> None:
    """Move the imported store and its transaction logs into the server's data folder. Logs first, store last: a
    home counts as having a database once the store is there (:meth:`EmbeddedServer.has_store`)."""
    target_store = server.root / "data" / "databases" / DATABASE
    target_logs = server.root / "data" / "transactions" / DATABASE
    target_store.parent.mkdir(parents=True, exist_ok=True)
    target_logs.parent.mkdir(parents=True, exist_ok=True)
    _check(server)   # again: a `graphrec db start` meanwhile would have created the database
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        if target_logs.exists():   # logs of a store that never arrived (the previous swap was killed in between)
            shutil.rmtree(target_logs)
        logs.rename(target_logs)
        store.rename(target_store)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
