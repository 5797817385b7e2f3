"""What the embedded server does without starting it: paths, password file, stale state, loopback binding."""

import json
import stat
import subprocess
import sys

import pytest

from graphrec.db.server import EmbeddedServer
from graphrec.errors import ServerError


def test_password_is_generated_once_and_private(tmp_path):
    srv = EmbeddedServer(tmp_path)
    first = srv.password()
    assert len(first) >= 32 and srv.password() == first
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


def test_every_listener_binds_to_loopback_and_auth_is_on(tmp_path):
    srv = EmbeddedServer(tmp_path)
    settings = srv.settings(7687, 7474)
    assert settings["server.default_listen_address"] == "127.0.0.1"
    assert settings["server.bolt.listen_address"] == "127.0.0.1:7687"
    assert settings["server.http.listen_address"] == "127.0.0.1:7474"
    assert settings["server.https.enabled"] == "false" and settings["dbms.security.auth_enabled"] == "true"
    cmd = srv._command("java", tmp_path, 7687, 7474)
    assert not any("0.0.0.0" in part for part in cmd)
    assert "-Xmx2g" in cmd and "-cserver.memory.pagecache.size=1g" in cmd


def test_the_password_is_on_no_command_line(tmp_path):
    srv = EmbeddedServer(tmp_path)
    password = srv.password()
    assert not any(password in part for part in srv._command("java", tmp_path, 7687, 7474))


def test_passwords_are_safe_as_picocli_arguments():
    from graphrec.db.server import new_password

    for _ in range(200):
        pw = new_password()
        assert len(pw) == 32 and pw.isalnum() and pw[0].isalpha()


@pytest.mark.parametrize("size", ["0g", "2", "big", "-1g", "1.5g"])
def test_bad_memory_sizes_are_refused_naming_the_setting(tmp_path, size):
    with pytest.raises(ServerError, match="server_heap must be a size such as 512m or 2g"):
        EmbeddedServer(tmp_path, heap=size)
