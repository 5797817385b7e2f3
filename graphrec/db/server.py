"""The embedded graph server: Neo4j Community 5.26 (with Neo4j Browser), run as a child JVM from pinned jars.

The jars and the Java runtime come from :mod:`graphrec.db.distribution`. Layout under the graphrec home folder::

    <home>/password            generated password of user neo4j, mode 0600
    <home>/neo4j/              NEO4J_HOME: data/, logs/, run/, import/, plugins/ (Neo4j's own layout)
    <home>/neo4j/server.json   pid and ports of the running server
    <home>/neo4j/server.out    the JVM's stdout/stderr (Neo4j's own logs are in logs/)

Every listener binds to 127.0.0.1, auth is on, and the password never appears in a process's arguments or
environment: before the very first start, Neo4j's own ``set-initial-password`` reads it from the 0600 file (as a
picocli ``@file`` argument), so no moment exists when the default neo4j/neo4j login works.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import string
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from graphrec.config import Settings
from graphrec.db import distribution
from graphrec.errors import ServerError

LOOPBACK = "127.0.0.1"
USER = "neo4j"
DATABASE = "neo4j"
_JVM_OPTIONS = [
    # The flags Neo4j's own launcher passes (its default neo4j.conf), for a JVM started without that launcher.
    "-XX:+UseG1GC", "-XX:-OmitStackTraceInFastThrow", "-XX:+UnlockExperimentalVMOptions",
    "-XX:+TrustFinalNonStaticFields", "-XX:+DisableExplicitGC", "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dio.netty.tryReflectionSetAccessible=true", "-Dlog4j2.disable.jmx=true", "-Djdk.tls.ephemeralDHKeySize=2048",
    "--add-opens=java.base/java.nio=ALL-UNNAMED", "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
]


@dataclass(frozen=True)
class ServerStatus:
    running: bool
    home: str
    uri: str | None = None
    http_url: str | None = None
    browser_url: str | None = None
    user: str = USER
    password_file: str | None = None
    database: str = DATABASE
    pid: int | None = None
    log_file: str | None = None
    version: str = distribution.NEO4J_VERSION

    def as_dict(self) -> dict:
        return asdict(self)


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
    """Neo4j's HTTP discovery document answers once the server (and its default database) is up."""
    try:
        with urllib.request.urlopen(f"http://{LOOPBACK}:{http_port}/", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def new_password(length: int = 32) -> str:
    """Letters and digits only: it travels as a picocli @file argument, where a leading '-' or a quote would count."""
    alphabet = string.ascii_letters + string.digits
    return secrets.choice(string.ascii_letters) + "".join(secrets.choice(alphabet) for _ in range(length - 1))


def parse_size(text: str, what: str) -> str:
    """A memory size as Neo4j and the JVM both read it (``512m``, ``2g``); ServerError naming ``what`` otherwise."""
    value = str(text).strip().lower()
    if not (value[:-1].isdigit() and value[-1] in "kmg") or int(value[:-1]) == 0:
        raise ServerError(f"{what} must be a size such as 512m or 2g, got {text!r}")
    return value


PORT_ATTEMPTS = 3  # starts tried when another process takes a port between the check and Neo4j's bind
_STARTED = "Started."  # neo4j.log's line once the server answers
_PORT_TAKEN = "PortBindException"


class EmbeddedServer:
    """Start, stop and inspect the embedded Neo4j that keeps its data under ``home``.

    ``bolt_port``/``http_port`` are the preferred ports; when one is taken by something else a free one is chosen and
    recorded in ``server.json``, so ``status`` always tells the truth. ``heap`` and ``pagecache`` size the JVM heap
    and Neo4j's page cache (defaults fit a 2-core, 24 GiB machine beside a training process).
    """

    def __init__(self, home: str | Path, bolt_port: int = 7687, http_port: int = 7474, heap: str = "2g",
                 pagecache: str = "1g"):
        self.home = Path(home).expanduser().resolve()
        self.root = self.home / "neo4j"
        self.password_file = self.home / "password"
        self.state_file = self.root / "server.json"
        self.log_file = self.root / "server.out"
        self.bolt_port = bolt_port
        self.http_port = http_port
        self.heap = parse_size(heap, "server_heap")
        self.pagecache = parse_size(pagecache, "server_pagecache")

    @classmethod
    def of(cls, settings: Settings) -> "EmbeddedServer":
        """The embedded server that ``settings`` configure (home, ports, memory)."""
        return cls(settings.home, settings.bolt_port, settings.http_port, settings.server_heap,
                   settings.server_pagecache)

    # ---- state -------------------------------------------------------------------------------------------------
    def _read_state(self) -> dict | None:
        try:
            return json.loads(self.state_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def _alive(self, pid: int) -> bool:
        """True when ``pid`` is this home's Neo4j process (a recycled pid of another program does not count)."""
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            try:
                os.kill(pid, 0)
            except OSError:
                return False
            return True  # no /proc (macOS): trust the pid
        return f"--home-dir={self.root}".encode() in cmdline

    def status(self) -> ServerStatus:
        state = self._read_state()
        if state and self._alive(state["pid"]):
            http = f"http://{LOOPBACK}:{state['http_port']}"
            return ServerStatus(
                running=True,
                home=str(self.home),
                uri=f"bolt://{LOOPBACK}:{state['bolt_port']}",
                http_url=http,
                browser_url=f"{http}/browser/",
                password_file=str(self.password_file),
                pid=state["pid"],
                log_file=str(self.log_file),
            )
        return ServerStatus(running=False, home=str(self.home), password_file=str(self.password_file),
                            log_file=str(self.log_file) if self.log_file.exists() else None)

    def password(self) -> str:
        """The password of user neo4j, generated on first use and kept in a file only the user can read."""
        if not self.password_file.exists():
            if self._initialised():
                raise ServerError(f"{self.password_file} is missing but the server in {self.root} already has its "
                                  "users; restore the file, or remove that folder (its data goes with it)")
            self.home.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(new_password() + "\n")
        return self.password_file.read_text().strip()

    def _initialised(self) -> bool:
        """True once Neo4j has created its system database (from then on set-initial-password does nothing)."""
        return (self.root / "data" / "databases" / "system").exists()

    # ---- lifecycle -----------------------------------------------------------------------------------------------
    def settings(self, bolt_port: int, http_port: int) -> dict[str, str]:
        """The Neo4j settings graphrec passes (as ``-c name=value``): no secret among them."""
        return {
            "server.default_listen_address": LOOPBACK,
            "server.default_advertised_address": LOOPBACK,
            "server.bolt.listen_address": f"{LOOPBACK}:{bolt_port}",
            "server.bolt.advertised_address": f"{LOOPBACK}:{bolt_port}",
            "server.http.listen_address": f"{LOOPBACK}:{http_port}",
            "server.http.advertised_address": f"{LOOPBACK}:{http_port}",
            "server.https.enabled": "false",
            "dbms.security.auth_enabled": "true",
            "dbms.usage_report.enabled": "false",
            "server.memory.pagecache.size": self.pagecache,
            # Browser fetches :play / :style URLs only from listed hosts (host names, any port): graphrec.browser's
            # guide server on loopback.
            "browser.remote_content_hostname_whitelist": f"http://{LOOPBACK}",
        }

    def _command(self, java: str, lib: Path, bolt_port: int, http_port: int) -> list[str]:
        settings = [f"-c{name}={value}" for name, value in self.settings(bolt_port, http_port).items()]
        return [java, f"-Xms{self.heap}", f"-Xmx{self.heap}", *_JVM_OPTIONS, "-cp", str(lib / "*"),
                "org.neo4j.server.CommunityEntryPoint", f"--home-dir={self.root}", *settings]

    def has_store(self) -> bool:
        """True once the graph database's store exists (the server has started, or an offline import built it)."""
        return (self.root / "data" / "databases" / DATABASE).exists()

    def admin(self, java: str, lib: Path, *args: str, jvm: tuple[str, ...] = ()) -> tuple[list[str], dict[str, str]]:
        """The command and environment of Neo4j's own ``neo4j-admin ARGS`` (``org.neo4j.cli.AdminTool``) on this
        home, in a JVM with the launcher's flags and ``jvm``: NEO4J_HOME is the server's folder, its conf/neo4j.conf
        empty (graphrec passes its settings as flags), and no NEO4J_* variable of the user's reaches it."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEO4J_")}
        env.update(NEO4J_HOME=str(self.root), NEO4J_CONF=str(self.root / "conf"))
        (self.root / "conf").mkdir(parents=True, exist_ok=True)
        (self.root / "conf" / "neo4j.conf").touch()
        return [java, *jvm, *_JVM_OPTIONS, "-cp", str(lib / "*"), "org.neo4j.cli.AdminTool", *args], env

    def _set_initial_password(self, java: str, lib: Path) -> None:
        """Neo4j's own ``neo4j-admin dbms set-initial-password``, reading the password from its 0600 file."""
        self.password()
        command, env = self.admin(java, lib, "dbms", "set-initial-password", f"@{self.password_file}")
        out = subprocess.run(command, env=env, cwd=self.root, capture_output=True, text=True, timeout=120)
        if out.returncode != 0 or not (self.root / "data" / "dbms" / "auth.ini").exists():
            raise ServerError(f"setting the initial password of the embedded Neo4j failed: "
                              f"{(out.stderr or out.stdout).strip()[-500:]}")

    def start(self, timeout: float = 180.0) -> ServerStatus:
        """Start the server unless it already runs (a second start is harmless); wait until it answers."""
        current = self.status()
        if current.running:
            return current
        if self.state_file.exists():  # left behind by a crash: the process it names is gone
            self.state_file.unlink()
        lib = distribution.ensure_jars()
        java = distribution.find_java()
        self.root.mkdir(parents=True, exist_ok=True)
        if not self._initialised():
            self._set_initial_password(java, lib)
        else:
            self.password()  # fails early, with the fix, when the file is gone
        deadline = time.monotonic() + timeout
        bolt_port, http_port = self.bolt_port, self.http_port
        for attempt in range(PORT_ATTEMPTS):
            bolt = bolt_port if bolt_port and port_is_free(bolt_port) else free_port()
            http = http_port if http_port and port_is_free(http_port) and http_port != bolt else free_port()
            mark = self._log_size()
            pid = self._spawn(self._command(java, lib, bolt, http))
            self.state_file.write_text(json.dumps({"pid": pid, "bolt_port": bolt, "http_port": http,
                                                   "started_at": time.time(), "version": distribution.NEO4J_VERSION}))
            while time.monotonic() < deadline:
                if not self._alive(pid):
                    self.state_file.unlink(missing_ok=True)
                    if _PORT_TAKEN in self._log_since(mark) and attempt + 1 < PORT_ATTEMPTS:
                        break  # another server took the port between our check and its bind: take free ones
                    raise ServerError(f"the embedded Neo4j exited while starting; last lines of "
                                      f"{self.root / 'logs' / 'neo4j.log'}:\n{self._log_tail()}")
                # answering ports are not enough: a server of another home, started at the same moment, may hold
                # them; this home's own log says when its server is up
                if _STARTED in self._log_since(mark) and _port_answers(bolt) and _ready(http):
                    return self.status()
                time.sleep(0.25)
            else:
                break
            bolt_port = http_port = 0
        self.stop()
        raise ServerError(f"the embedded Neo4j did not answer on bolt port {bolt} within {timeout:.0f}s; "
                          f"see {self.root / 'logs' / 'neo4j.log'}")

    def _log_size(self) -> int:
        try:
            return (self.root / "logs" / "neo4j.log").stat().st_size
        except FileNotFoundError:
            return 0

    def _log_since(self, offset: int) -> str:
        """What this home's neo4j.log gained after ``offset`` bytes (the current start's lines)."""
        try:
            with open(self.root / "logs" / "neo4j.log", "rb") as fh:
                fh.seek(offset if offset <= os.fstat(fh.fileno()).st_size else 0)  # rotated meanwhile: all of it
                return fh.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def _spawn(self, command: list[str]) -> int:
        """Start ``command`` detached (its own session, not our child) so it outlives this process; return its pid.

        A shell starts it in the background and exits at once: the server is re-parented to init, so it never
        lingers as our zombie and no Popen object outlives this call. The environment loses NEO4J_* (a user's
        NEO4J_PASSWORD must not reach the server's environment, nor NEO4J_CONF its configuration).
        """
        launcher = 'exec "$@" </dev/null >>"$GRAPHREC_SERVER_LOG" 2>&1 & echo $!'
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEO4J_")}
        env.update(GRAPHREC_SERVER_LOG=str(self.log_file))
        out = subprocess.run(["/bin/sh", "-c", launcher, "graphrec-server", *command], cwd=self.root, env=env,
                             capture_output=True, text=True, start_new_session=True, check=True)
        return int(out.stdout.strip())

    def stop(self, timeout: float = 60.0) -> bool:
        """Stop the server (SIGTERM: Neo4j checkpoints and exits; SIGKILL after ``timeout``). False when it was not
        running."""
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

    def wipe(self) -> None:
        """Stop the server and delete its databases (users, data, indexes); the next start begins afresh with the same
        password file."""
        self.stop()
        shutil.rmtree(self.root / "data", ignore_errors=True)

    def _log_tail(self, lines: int = 15) -> str:
        for path in (self.root / "logs" / "neo4j.log", self.log_file):
            try:
                text = path.read_text(errors="replace").strip()
            except FileNotFoundError:
                continue
            if text:
                return "\n".join(text.splitlines()[-lines:])
        return "(no log)"
