"""The integration tier: one real embedded Neo4j per test session, on free ports in a temporary home."""

from __future__ import annotations

import pytest

from graphrec.config import Settings, load_settings
from graphrec.db.connect import Graph, connect
from graphrec.db.server import EmbeddedServer, free_port


SERVER_AGENT = pytest.StashKey[str]()


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    if SERVER_AGENT in config.stash:
        terminalreporter.write_line(f"integration tier: server agent {config.stash[SERVER_AGENT]}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    home = tmp_path_factory.mktemp("graphrec-home")
    # Written as the home's config file so that CLI invocations with --home reach the same server.
    (home / "config.toml").write_text(f"[graphrec]\nbolt_port = {free_port()}\nhttp_port = {free_port()}\n"
                                      'server_heap = "1g"\nserver_pagecache = "512m"\n')
    return load_settings(home=str(home), environ={})


@pytest.fixture(scope="session")
def server(settings: Settings, request: pytest.FixtureRequest):
    srv = EmbeddedServer.of(settings)
    try:
        status = srv.start()
        with connect(settings) as graph:  # the log says which server the tier ran against (pytest_terminal_summary)
            request.config.stash[SERVER_AGENT] = f"{graph.dialect.agent} at {graph.uri}"
        yield status
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def session_graph(server, settings: Settings):
    with connect(settings) as graph:
        yield graph


@pytest.fixture
def graph(session_graph: Graph) -> Graph:
    """The session's graph, emptied before each test."""
    session_graph.clear()
    return session_graph
