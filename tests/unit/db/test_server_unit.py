"""What the embedded server does without starting it: paths, password file, stale state, loopback binding."""

import json
import stat
import subprocess
import sys

from graphrec.db.server import EmbeddedServer


def test_password_is_generated_once_and_private(tmp_path):
    srv = EmbeddedServer(tmp_path)
    first = srv.password()
    assert len(first) >= 24 and srv.password() == first
    assert stat.S_IMODE(srv.password_file.stat().st_mode) == 0o600


def test_stale_state_after_a_crash_reads_as_stopped(tmp_path):
    srv = EmbeddedServer(tmp_path)
    srv.root.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    srv.state_file.write_text(json.dumps({"pid": dead.pid, "bolt_port": 1, "http_port": 2}))
    assert not srv.status().running
    assert srv.stop() is False and not srv.state_file.exists()


def test_a_recycled_pid_of_another_program_is_not_the_server(tmp_path):
    srv = EmbeddedServer(tmp_path)
    srv.root.mkdir(parents=True)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        srv.state_file.write_text(json.dumps({"pid": other.pid, "bolt_port": 1, "http_port": 2}))
        assert not srv.status().running
    finally:
        other.kill()
        other.wait()


def test_every_listener_binds_to_loopback(tmp_path):
    cmd = EmbeddedServer(tmp_path)._command(7687, 2480)
    assert "-Darcadedb.bolt.host=127.0.0.1" in cmd
    assert "-Darcadedb.server.httpIncomingHost=127.0.0.1" in cmd
    assert not any("0.0.0.0" in part for part in cmd)
