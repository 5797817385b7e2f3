"""graphrec.browser's guide server: the Browser files to Browser's origin only, nothing else, loopback only."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys

import pytest

from graphrec.browser import GuideServer, browser_dir, browser_origins
from graphrec.errors import ServerError

BROWSER_ORIGIN = "http://127.0.0.1:7474"


@pytest.fixture
def guide():
    with GuideServer(browser_origins(BROWSER_ORIGIN)) as server:
        yield server


def _request(server: GuideServer, path: str, method: str = "GET", headers: dict | None = None):
    """One request with ``path`` sent exactly as written (no client-side normalisation of ``..``)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def test_serves_the_guide_to_browsers_origin(guide):
    status, headers, body = _request(guide, "/guide.html", headers={"Origin": BROWSER_ORIGIN})
    assert status == 200 and body == (browser_dir() / "guide.html").read_bytes()
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert headers["access-control-allow-origin"] == BROWSER_ORIGIN and headers["vary"] == "Origin"
    assert guide.play_command == f":play http://127.0.0.1:{guide.port}/guide.html"


def test_the_localhost_spelling_of_browsers_origin_is_allowed_and_nothing_else(guide):
    _, headers, _ = _request(guide, "/guide.html", headers={"Origin": "http://localhost:7474"})
    assert headers["access-control-allow-origin"] == "http://localhost:7474"
    for other in ("http://127.0.0.1:8080", "http://evil.example", "null"):
        status, headers, _ = _request(guide, "/guide.html", headers={"Origin": other})
        assert status == 200 and "access-control-allow-origin" not in headers, other


def test_answers_browsers_preflight_for_its_origin_only(guide):
    # Browser's guide fetch sends Cache-Control and Pragma, so Chromium asks first.
    ask = {"Origin": BROWSER_ORIGIN, "Access-Control-Request-Method": "GET",
           "Access-Control-Request-Headers": "cache-control,pragma"}
    status, headers, body = _request(guide, "/guide.html", "OPTIONS", ask)
    assert status == 204 and body == b""
    assert headers["access-control-allow-origin"] == BROWSER_ORIGIN
    assert set(headers["access-control-allow-headers"].split(", ")) == {"cache-control", "pragma"}
    assert headers["access-control-allow-methods"] == "GET, HEAD"
    assert _request(guide, "/guide.html", "OPTIONS", {**ask, "Origin": "http://evil.example"})[0] == 403
    assert _request(guide, "/guide.html", "OPTIONS", {**ask, "Access-Control-Request-Method": "PUT"})[0] == 403


def test_serves_the_style_sheet_and_favourites_and_head(guide):
    status, headers, body = _request(guide, "/style.grass")
    assert status == 200 and body == (browser_dir() / "style.grass").read_bytes()
    assert headers["content-type"] == "text/plain; charset=utf-8"
    status, _, body = _request(guide, "/favorites/00_set_parameters.cypher")
    assert status == 200 and body.startswith(b"// graphrec: set the parameters")
    status, headers, body = _request(guide, "/guide.html", "HEAD")
    assert status == 200 and body == b"" and int(headers["content-length"]) > 1000


@pytest.mark.parametrize("path", [
    "/../pyproject.toml", "/..%2fpyproject.toml", "/%2e%2e/%2e%2e/README.md", "/favorites/../../schema.cypher",
    "/favorites/..%2F..%2Fschema.cypher", "//etc/passwd", "/..\\schema.cypher", "/%00guide.html",
])
def test_refuses_paths_outside_the_folder(guide, path):
    assert _request(guide, path)[0] == 404


@pytest.mark.parametrize("path", ["/missing.html", "/favorites/", "/favorites", "/__init__.py", "/.hidden.html"])
def test_missing_files_folders_and_other_kinds_are_404_without_a_listing(guide, path):
    status, _, body = _request(guide, path)
    assert status == 404 and b"guide.html" not in body and b"cypher" not in body


def test_the_root_is_the_guide_not_a_listing(guide):
    status, _, body = _request(guide, "/")
    assert status == 200 and body == (browser_dir() / "guide.html").read_bytes()


def test_a_symlink_out_of_the_folder_is_not_served(tmp_path):
    folder = tmp_path / "browser"
    folder.mkdir()
    (folder / "guide.html").write_text("<article>guide</article>")
    (tmp_path / "secret.html").write_text("secret")
    (folder / "leak.html").symlink_to(tmp_path / "secret.html")
    with GuideServer([BROWSER_ORIGIN], folder=folder) as server:
        assert _request(server, "/guide.html")[2] == b"<article>guide</article>"
        assert _request(server, "/leak.html")[0] == 404


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_only_get_and_head(guide, method):
    assert _request(guide, "/guide.html", method)[0] == 501


def test_binds_loopback_only(guide):
    assert guide._server.server_address[0] == "127.0.0.1" and guide.url.startswith("http://127.0.0.1:")


def test_a_wildcard_or_missing_origin_and_a_folder_without_guide_are_refused(tmp_path):
    with pytest.raises(ServerError, match="origins"):
        GuideServer(["*"])
    with pytest.raises(ServerError, match="origins"):
        GuideServer([])
    with pytest.raises(ServerError, match="no guide.html"):
        GuideServer([BROWSER_ORIGIN], folder=tmp_path)
    with pytest.raises(ServerError, match="url_host"):
        GuideServer([BROWSER_ORIGIN], url_host="0.0.0.0")


def test_a_taken_port_is_a_clear_error(guide):
    with pytest.raises(ServerError, match=f"127.0.0.1:{guide.port}"):
        GuideServer([BROWSER_ORIGIN], port=guide.port)


def test_browser_origins():
    assert browser_origins("http://127.0.0.1:7474") == ("http://127.0.0.1:7474", "http://localhost:7474")
    assert browser_origins("http://localhost:7474/") == ("http://localhost:7474", "http://127.0.0.1:7474")
    assert browser_origins("https://db.example:7473") == ("https://db.example:7473",)
    for bad in ("bolt://127.0.0.1:7687", "127.0.0.1:7474", "http://host:port"):
        with pytest.raises(ServerError, match="Browser origin"):
            browser_origins(bad)


def _ctrl_c_delivered() -> None:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # Python installs its KeyboardInterrupt over the default, not SIG_IGN


def test_cli_prints_the_play_line_and_serves_until_interrupted(tmp_path):
    """`graphrec browser` against a Neo4j of one's own (no embedded server needed): the lines a user follows, then the
    guide served to the given origin, then a clean stop on Ctrl-C."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEO4J_", "GRAPHREC_"))}
    env["NEO4J_PASSWORD"] = "unused"  # the settings of an external server want one; no server is reached
    proc = subprocess.Popen([sys.executable, "-m", "graphrec.cli", "--home", str(tmp_path), "--uri",
                             "bolt://127.0.0.1:1", "browser", "--origin", "http://localhost:7474"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            # the child inherits the signal mask and ignored signals of this process: a session
                            # started in the background (SIGINT ignored) or a thread that had SIGINT blocked would
                            # leave it deaf to Ctrl-C (seen once in a fresh-clone run), so give Ctrl-C back
                            preexec_fn=_ctrl_c_delivered)
    try:
        printed = [proc.stdout.readline() for _ in range(3)]
        play = printed[0].split()[1:]
        # Neo4j's default browser.remote_content_hostname_whitelist allows localhost (the embedded one 127.0.0.1).
        assert play[0] == ":play" and play[1].startswith("http://localhost:"), printed
        assert printed[1].split()[1] == ":style" and "favorites" in printed[2]
        conn = http.client.HTTPConnection("127.0.0.1", int(play[1].split(":")[2].split("/")[0]), timeout=10)
        conn.request("GET", "/guide.html", headers={"Origin": "http://localhost:7474"})
        response = conn.getresponse()
        assert response.status == 200 and response.getheader("Access-Control-Allow-Origin") == "http://localhost:7474"
        conn.close()
    finally:
        proc.send_signal(signal.SIGINT)
        try:  # generous: on a loaded 2-core CI machine a Python process can take many seconds to get scheduled
            _, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()  # never leave it running into the next test (its ResourceWarning would fail that one)
            _, err = proc.communicate()
            raise AssertionError(f"graphrec browser did not stop within 120 s of Ctrl-C; it printed: {err}")
    assert proc.returncode == 0 and "guide server stopped" in err, err


def test_cli_with_an_external_server_needs_browsers_origin(tmp_path):
    from click.testing import CliRunner

    from graphrec.cli import cli

    result = CliRunner().invoke(cli, ["--home", str(tmp_path), "--uri", "bolt://127.0.0.1:1", "browser"],
                                env={"NEO4J_PASSWORD": "unused"})
    assert result.exit_code == 2 and "--origin" in result.output
