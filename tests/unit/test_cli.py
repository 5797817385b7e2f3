import json

from click.testing import CliRunner

from graphrec.cli import _parse_param, cli


def test_config_masks_the_password(tmp_path):
    env = {"NEO4J_URI": "bolt://db:7687", "NEO4J_PASSWORD": "hunter22", "GRAPHREC_HOME": str(tmp_path)}
    result = CliRunner().invoke(cli, ["config", "--json"], env=env)
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["uri"] == "bolt://db:7687" and "hunter22" not in result.output


def test_db_status_when_stopped(tmp_path):
    result = CliRunner().invoke(cli, ["--home", str(tmp_path), "db", "status", "--json"], env={"NEO4J_URI": ""})
    assert result.exit_code == 0, result.output
    status = json.loads(result.stdout)
    assert status["running"] is False and status["password_file"].endswith("password")


def test_params_are_parsed_as_json_when_they_can_be():
    assert _parse_param("k=3") == ("k", 3)
    assert _parse_param("ids=[1,2]") == ("ids", [1, 2])
    assert _parse_param("name=O'Brien") == ("name", "O'Brien")
    assert _parse_param("q=MATCH (n) DETACH DELETE n") == ("q", "MATCH (n) DETACH DELETE n")
