"""The embedded Neo4j's life cycle and its guarantees, against a real server of its own (not the session's)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import base64
import urllib.error
import urllib.request

import neo4j
import pytest
from click.testing import CliRunner

from graphrec.cli import cli
from graphrec.db.server import EmbeddedServer, free_port


def _listening_addresses(pid: int) -> set[str]:
    """The local addresses of every TCP socket in LISTEN state that process ``pid`` holds (from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except FileNotFoundError:  # the server closed it meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] == "0A" and cols[9] in inodes:  # 0A = LISTEN
                found.add(cols[1].rsplit(":", 1)[0])
    return found


LOOPBACK_HEX = {"0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000"}


@pytest.fixture
def own_home(tmp_path: Path) -> Path:
    (tmp_path / "config.toml").write_text(f"bolt_port = {free_port()}\nhttp_port = {free_port()}\nserver_heap = '1g'\n"
                                          "server_pagecache = '128m'\n")
    return tmp_path


def test_start_status_query_stop_restart(own_home: Path):
    runner = CliRunner()
    env = {"NEO4J_URI": ""}
    try:
        started = runner.invoke(cli, ["--home", str(own_home), "db", "start", "--json"], env=env)
        assert started.exit_code == 0, started.output
        status = json.loads(runner.invoke(cli, ["--home", str(own_home), "db", "status", "--json"], env=env).stdout)
        assert status["running"] and status["uri"].startswith("bolt://127.0.0.1:")
        assert status["user"] == "neo4j" and status["browser_url"] == status["http_url"] + "/browser/"
        assert _listening_addresses(status["pid"]) <= LOOPBACK_HEX, "a listener is reachable from outside"

        password = Path(status["password_file"]).read_text().strip()
        with neo4j.GraphDatabase.driver(status["uri"], auth=(status["user"], password)) as driver:
            records, _, _ = driver.execute_query("CREATE (n:Probe {id: $id}) RETURN n.id AS id", id="p1")
            assert records[0]["id"] == "p1"
            assert driver.get_server_info().agent.startswith("Neo4j/5.")
        for wrong in ("neo4j", password + "x"):  # the default password never worked, a wrong one is refused
            with neo4j.GraphDatabase.driver(status["uri"], auth=("neo4j", wrong)) as driver:
                with pytest.raises(neo4j.exceptions.AuthError):
                    driver.verify_connectivity()
        _assert_http_needs_credentials(status["http_url"], password)
        _assert_password_in_no_process(password)

        again = json.loads(runner.invoke(cli, ["--home", str(own_home), "db", "start", "--json"], env=env).stdout)
        assert again["pid"] == status["pid"], "a second start must reuse the running server"

        assert runner.invoke(cli, ["--home", str(own_home), "db", "stop"], env=env).output.strip() == "stopped"
        stopped = json.loads(runner.invoke(cli, ["--home", str(own_home), "db", "status", "--json"], env=env).stdout)
        assert stopped["running"] is False

        # data survives a restart
        restarted = json.loads(runner.invoke(cli, ["--home", str(own_home), "db", "start", "--json"], env=env).stdout)
        with neo4j.GraphDatabase.driver(restarted["uri"], auth=("neo4j", password)) as driver:
            records, _, _ = driver.execute_query("MATCH (n:Probe) RETURN n.id AS id")
            assert [r["id"] for r in records] == ["p1"]
    finally:
        EmbeddedServer(own_home).stop()


def _assert_http_needs_credentials(http_url: str, password: str) -> None:
    """Neo4j's HTTP API reads nothing without credentials, and reads with them."""
    body = json.dumps({"statements": [{"statement": "MATCH (n:Probe) RETURN n.id"}]}).encode()

    def post(headers: dict) -> int:
        request = urllib.request.Request(f"{http_url}/db/neo4j/tx/commit", data=body, method="POST",
                                         headers={"Content-Type": "application/json", **headers})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                answer = json.loads(response.read())
                assert not answer.get("errors"), answer
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    assert post({}) == 401
    token = base64.b64encode(f"neo4j:{password}".encode()).decode()
    assert post({"Authorization": f"Basic {token}"}) == 200


def _assert_password_in_no_process(password: str) -> None:
    """No process (the server, the JVM that set the password, this one) shows the password in its arguments, and no
    other process holds it in its environment."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            environ = (proc / "environ").read_bytes() if int(proc.name) != os.getpid() else b""
        except OSError:  # gone meanwhile, or not ours to read
            continue
        assert password.encode() not in cmdline, f"the password is in the command line of pid {proc.name}"
        assert password.encode() not in environ, f"the password is in the environment of pid {proc.name}"


def test_stale_pid_file_after_a_kill_is_handled(own_home: Path):
    import signal
    import time

    srv = EmbeddedServer(own_home, free_port(), free_port(), heap="1g", pagecache="128m")
    try:
        first = srv.start()
        os.kill(first.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while srv.status().running and time.monotonic() < deadline:
            time.sleep(0.1)
        assert srv.state_file.exists() and not srv.status().running
        second = srv.start()
        assert second.running and second.pid != first.pid
    finally:
        srv.stop()


def test_a_port_taken_after_the_check_gives_free_ports_not_another_homes_server(own_home: Path, monkeypatch):
    """Two homes starting at the same moment both find the default port free; the one whose bind fails must not take
    the other's answering server for its own (that ended in 'authentication failed'), but start on free ports."""
    import socket

    import graphrec.db.server as server

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()  # a server of another home: it answers on the port
    port = taken.getsockname()[1]
    monkeypatch.setattr(server, "port_is_free", lambda p, host=server.LOOPBACK: True)  # the check came too early
    srv = EmbeddedServer(own_home, port, free_port(), heap="1g", pagecache="128m")
    try:
        status = srv.start()
        assert status.uri != f"bolt://127.0.0.1:{port}"
        with neo4j.GraphDatabase.driver(status.uri, auth=("neo4j", srv.password())) as driver:
            assert driver.execute_query("RETURN 1 AS one").records[0]["one"] == 1
    finally:
        srv.stop()
        taken.close()
