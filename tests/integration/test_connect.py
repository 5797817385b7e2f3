"""Connecting, the schema and batched writes against the real server."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from graphrec.cli import cli
from graphrec.config import load_settings
from graphrec.db.connect import connect
from graphrec.db.server import free_port
from graphrec.errors import DatabaseError


def test_schema_is_idempotent(graph):
    graph.apply_schema()
    graph.apply_schema()
    names = {row["name"] for row in graph.query("SHOW CONSTRAINTS")}
    assert {"graphrec_user_id", "graphrec_item_id", "graphrec_entity_id"} <= names


def test_uniqueness_is_enforced(graph):
    graph.apply_schema()
    graph.query("CREATE (:User {id: $id})", {"id": "u1"}, write=True)
    with pytest.raises(DatabaseError):
        graph.query("CREATE (:User {id: $id})", {"id": "u1"}, write=True)


def test_write_batches_counts_rows(graph):
    graph.apply_schema()
    seen = []
    rows = [{"id": f"u{i}"} for i in range(25)]
    n = graph.write_batches("db.test_merge_users", [rows[:10], rows[10:20], rows[20:]], on_batch=lambda rows: seen.append(len(rows)))
    assert n == 25 and seen == [10, 10, 5]
    assert graph.query("MATCH (u:User) RETURN count(u) AS c")[0]["c"] == 25


def test_unreachable_server_gives_one_clear_line(tmp_path):
    port = free_port()
    settings = load_settings(home=str(tmp_path), environ={"NEO4J_URI": f"bolt://127.0.0.1:{port}",
                                                          "NEO4J_PASSWORD": "x"})
    with pytest.raises(DatabaseError, match=f"cannot reach the graph database at bolt://127.0.0.1:{port}"):
        connect(settings, retries=1)


def test_wrong_password_is_named(server, settings, tmp_path):
    bad = load_settings(home=str(tmp_path), environ={"NEO4J_URI": server.uri, "NEO4J_USER": "neo4j",
                                                     "NEO4J_PASSWORD": "wrong-password"})
    with pytest.raises(DatabaseError, match="authentication failed"):
        connect(bad, retries=1)


def test_cypher_command_binds_parameters(graph, settings):
    hostile = "x'}) DETACH DELETE n //"
    result = CliRunner().invoke(cli, ["--home", str(settings.home), "cypher", "--json",
                                      "CREATE (u:User {id: $id}) RETURN u.id AS id", "-p", f"id={hostile}"],
                                env={"NEO4J_URI": ""})
    assert result.exit_code == 0, result.output
    assert hostile in result.output
    assert graph.query("MATCH (u:User {id: $id}) RETURN count(u) AS c", {"id": hostile})[0]["c"] == 1


def test_cli_reports_connection_errors_as_one_line(tmp_path):
    from subprocess import run
    import sys

    port = free_port()
    proc = run([sys.executable, "-m", "graphrec.cli", "--home", str(tmp_path), "cypher", "RETURN 1"],
               env={"NEO4J_URI": f"bolt://127.0.0.1:{port}", "NEO4J_PASSWORD": "x", "PATH": "/usr/bin"},
               capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and f"127.0.0.1:{port}" in proc.stderr


def test_graphrecs_own_statements_print_no_server_notifications(graph, capfd):
    """On an empty graph every label and property graphrec names is unknown: Neo4j would warn about each."""
    graph.read("recommend.status", user="u1", item="i1", run=None)
    graph.read("publish.runs")
    captured = capfd.readouterr()
    assert "notification" not in (captured.out + captured.err).lower()


def test_cypher_command_shows_the_servers_warnings_in_one_line_each(graph, settings):
    result = CliRunner().invoke(cli, ["--home", str(settings.home), "cypher", "MATCH (n:NoSuchLabel) RETURN n"],
                                env={"NEO4J_URI": ""})
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "NoSuchLabel" in warnings[0] and "GqlStatusObject" not in result.stderr
