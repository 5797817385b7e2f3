"""The embedded graph server: ArcadeDB's Bolt server from the ``arcadedb-embedded`` wheel, run as a child process.

This is the only module that knows ArcadeDB is underneath. Everything else talks Bolt + Cypher to it exactly as to
Neo4j. Layout under the graphrec home folder::

    <home>/password          generated root password, mode 0600
    <home>/server/           ArcadeDB rootPath (config/, databases/, backups/, log/ ...)
    <home>/server/server.json  pid and ports of the running server
    <home>/server/server.out   the server's stdout/stderr (not "log": ArcadeDB needs that name for a folder)

Every listener binds to 127.0.0.1: the Bolt plugin defaults to 0.0.0.0 unless told otherwise.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from graphrec.errors import ServerError

LOOPBACK = "127.0.0.1"
USER = "root"
DATABASE = "neo4j"


@dataclass(frozen=True)
class ServerStatus:
    running: bool
    home: str
    uri: str | None = None
    http_url: str | None = None
    user: str = USER
    password_file: str | None = None
    database: str = DATABASE
    pid: int | None = None
    log_file: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def _package_dir() -> Path:
    try:
        import arcadedb_embedded
    except ImportError as exc:  # pragma: no cover - it is a hard dependency
        raise ServerError("the embedded server needs the arcadedb-embedded package: pip install graphrec") from exc
    return Path(arcadedb_embedded.__file__).resolve().parent


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def _port_answers(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((LOOPBACK, port)) == 0


def _ready(http_port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{LOOPBACK}:{http_port}/api/v1/ready", timeout=2) as response:
            return response.status == 204
    except (urllib.error.URLError, OSError):
        return False


class EmbeddedServer:
    """Start, stop and inspect the embedded server that keeps its data under ``home``.

    ``bolt_port``/``http_port`` are the preferred ports; when one is taken by something else a free one is chosen and
    recorded in ``server.json``, so ``status`` always tells the truth.
    """

    def __init__(self, home: str | Path, bolt_port: int = 7687, http_port: int = 2480, heap: str = "2g"):
        self.home = Path(home).expanduser().resolve()
        self.root = self.home / "server"
        self.password_file = self.home / "password"
        self.state_file = self.root / "server.json"
        self.log_file = self.root / "server.out"
        self.bolt_port = bolt_port
        self.http_port = http_port
        self.heap = heap

    # ---- state -------------------------------------------------------------------------------------------------
    def _read_state(self) -> dict | None:
        try:
            return json.loads(self.state_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def _alive(self, pid: int) -> bool:
        """True when ``pid`` is this home's ArcadeDB process (a recycled pid of another program does not count)."""
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            try:
                os.kill(pid, 0)
            except OSError:
                return False
            return True  # no /proc (macOS): trust the pid
        wanted = f"-Darcadedb.server.rootPath={self.root}".encode()
        return wanted in cmdline

    def status(self) -> ServerStatus:
        state = self._read_state()
        if state and self._alive(state["pid"]):
            return ServerStatus(
                running=True,
                home=str(self.home),
                uri=f"bolt://{LOOPBACK}:{state['bolt_port']}",
                http_url=f"http://{LOOPBACK}:{state['http_port']}",
                password_file=str(self.password_file),
                pid=state["pid"],
                log_file=str(self.log_file),
            )
        return ServerStatus(running=False, home=str(self.home), password_file=str(self.password_file),
                            log_file=str(self.log_file) if self.log_file.exists() else None)

    def password(self) -> str:
        """The root password, generated on first use and kept in a file only the user can read."""
        if not self.password_file.exists():
            if (self.root / "config" / "server-users.jsonl").exists():
                raise ServerError(f"{self.password_file} is missing but the server in {self.root} already has a root "
                                  "user; restore the file, or remove the server folder to start afresh")
            self.home.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(24) + "\n")
        return self.password_file.read_text().strip()

    # ---- lifecycle -----------------------------------------------------------------------------------------------
    def _command(self, bolt_port: int, http_port: int) -> list[str]:
        pkg = _package_dir()
        return [
            str(pkg / "jre" / "bin" / "java"),
            f"-Xmx{self.heap}",
            "--add-modules", "jdk.incubator.vector",
            f"-Darcadedb.server.rootPath={self.root}",
            f"-Darcadedb.server.databaseDirectory={self.root / 'databases'}",
            f"-Darcadedb.server.rootPassword={self.password()}",
            f"-Darcadedb.server.httpIncomingHost={LOOPBACK}",
            f"-Darcadedb.server.httpIncomingPort={http_port}",
            f"-Darcadedb.server.defaultDatabases={DATABASE}[{USER}]",
            "-Darcadedb.server.plugins=Bolt:com.arcadedb.bolt.BoltProtocolPlugin",
            f"-Darcadedb.bolt.host={LOOPBACK}",
            f"-Darcadedb.bolt.port={bolt_port}",
            f"-Darcadedb.bolt.defaultDatabase={DATABASE}",
            "-cp", str(pkg / "jars" / "*"),
            "com.arcadedb.server.ArcadeDBServer",
        ]

    def start(self, timeout: float = 90.0) -> ServerStatus:
        """Start the server unless it already runs (a second start is harmless); wait until Bolt answers."""
        current = self.status()
        if current.running:
            return current
        if self.state_file.exists():  # left behind by a crash: the process it names is gone
            self.state_file.unlink()
        self.root.mkdir(parents=True, exist_ok=True)
        bolt = self.bolt_port if self.bolt_port and port_is_free(self.bolt_port) else free_port()
        http = self.http_port if self.http_port and port_is_free(self.http_port) and self.http_port != bolt else free_port()
        pid = self._spawn(self._command(bolt, http))
        self.state_file.write_text(json.dumps({"pid": pid, "bolt_port": bolt, "http_port": http,
                                               "started_at": time.time()}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._alive(pid):
                self.state_file.unlink(missing_ok=True)
                raise ServerError(f"the embedded server exited while starting; "
                                  f"last lines of {self.log_file}:\n{self._log_tail()}")
            # The listeners open before the default database exists; /api/v1/ready answers 204 once it does.
            if _port_answers(bolt) and _ready(http):
                return self.status()
            time.sleep(0.25)
        self.stop()
        raise ServerError(f"the embedded server did not answer on bolt port {bolt} within {timeout:.0f}s; "
                          f"see {self.log_file}")

    def _spawn(self, command: list[str]) -> int:
        """Start ``command`` detached (its own session, not our child) so it outlives this process; return its pid.

        A shell starts it in the background and exits at once: the server is re-parented to init, so it never
        lingers as our zombie and no Popen object outlives this call.
        """
        launcher = 'exec "$@" </dev/null >>"$GRAPHREC_SERVER_LOG" 2>&1 & echo $!'
        env = dict(os.environ, GRAPHREC_SERVER_LOG=str(self.log_file))
        out = subprocess.run(["/bin/sh", "-c", launcher, "graphrec-server", *command], cwd=self.root, env=env,
                             capture_output=True, text=True, start_new_session=True, check=True)
        return int(out.stdout.strip())

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout``). Returns False when it was not running."""
        state = self._read_state()
        if not state or not self._alive(state["pid"]):
            self.state_file.unlink(missing_ok=True)
            return False
        pid = state["pid"]
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._alive(pid):
            time.sleep(0.1)
        if self._alive(pid):
            os.kill(pid, signal.SIGKILL)
            while self._alive(pid):
                time.sleep(0.1)
        self.state_file.unlink(missing_ok=True)
        return True

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

