"""Running the CLI inside integration tests: against the session's embedded server, never a configured Neo4j."""

from __future__ import annotations

from click.testing import CliRunner, Result

from graphrec.cli import cli


def run_cli(settings, *args) -> Result:
    """``graphrec --home <test home> ARGS``; fails the test (with the output) unless it exits 0."""
    result = CliRunner().invoke(cli, ["--home", str(settings.home), *args], env={"NEO4J_URI": ""},
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result
