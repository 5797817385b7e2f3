"""The integration tier: one real embedded graph server per test session, on free ports in a temporary home."""

from __future__ import annotations

import pytest

from graphrec.config import Settings, load_settings
from graphrec.db.connect import Graph, connect
from graphrec.db.server import EmbeddedServer, free_port


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    home = tmp_path_factory.mktemp("graphrec-home")
    # Written as the home's config file so that CLI invocations with --home reach the same server.
    (home / "config.toml").write_text(f"[graphrec]\nbolt_port = {free_port()}\nhttp_port = {free_port()}\n"
                                      'server_heap = "1g"\n')
    return load_settings(home=str(home), environ={})


@pytest.fixture(scope="session")
def server(settings: Settings):
    srv = EmbeddedServer(settings.home, settings.bolt_port, settings.http_port, heap="1g")
    try:
        yield srv.start()
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def session_graph(server, settings: Settings):
    with connect(settings) as graph:
        yield graph


@pytest.fixture
def graph(session_graph: Graph) -> Graph:
    """The session's graph, emptied before each test."""
    session_graph.write("db.clear")
    return session_graph
