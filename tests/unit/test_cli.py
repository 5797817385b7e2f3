import json
import os
import subprocess
import sys

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


def test_params_are_text_unless_asked_to_be_json():
    """Ids are text in every bundled dataset: `-p id=2` must bind "2", not the number 2 (#34)."""
    assert _parse_param("id=2") == ("id", "2")
    assert _parse_param("k:=3") == ("k", 3)
    assert _parse_param("ids:=[1,2]") == ("ids", [1, 2])
    assert _parse_param("name=O'Brien") == ("name", "O'Brien")
    assert _parse_param("q=MATCH (n) DETACH DELETE n") == ("q", "MATCH (n) DETACH DELETE n")


def test_a_bad_param_or_option_is_one_line_naming_the_option(tmp_path):
    bad_json = CliRunner().invoke(cli, ["cypher", "RETURN $k", "-p", "k:=ten"])
    assert bad_json.exit_code == 2 and "--param" in bad_json.output and "k:= takes a JSON value" in bad_json.output
    for args, wanted in ((["ingest", "csv", "x", "-o", "novalue"], "option 'novalue' for format 'csv': expected NAME=VALUE"),
                         (["ingest", "csv", "x", "-o", "encoding=klingon"], "not an encoding Python knows"),
                         (["ingest", "lastfm", "x", "-o", "kg=maybe"], "option kg='maybe' for format 'lastfm': expected true or false"),
                         (["ingest", "csv", "x", "-o", "delimiter=ab"], "expected one character")):
        result = subprocess.run([sys.executable, "-m", "graphrec.cli", *args], capture_output=True, text=True,
                                env={**os.environ, "NEO4J_URI": "", "GRAPHREC_HOME": str(tmp_path)})
        assert result.returncode == 1, (args, result.stderr)
        assert wanted in result.stderr and "Traceback" not in result.stderr and result.stderr.count("\n") <= 2, args
    train = CliRunner().invoke(cli, ["train", "--model", "lightgcn", "--hp", "novalue"])
    assert train.exit_code == 2 and "--hp" in train.output and "--param" not in train.output


def test_formats_shows_the_csv_layout_and_option_types():
    listing = CliRunner().invoke(cli, ["formats"])
    assert listing.exit_code == 0 and "graphrec formats csv" in listing.output and "layout above" not in listing.output
    csv = CliRunner().invoke(cli, ["formats", "csv"])
    assert csv.exit_code == 0, csv.output
    for wanted in ("interactions.csv", "kg.csv", "social.csv", "head,relation,tail", "user_col", "delimiter"):
        assert wanted in csv.output, wanted
    assert CliRunner().invoke(cli, ["formats", "nope"]).exit_code == 2


def test_the_split_line_says_where_validation_came_from_and_warns_beside_a_stored_test():
    """#35: a random holdout beside a stored test split (Gowalla's train.txt / test.txt) foretells the test only if the
    test was drawn at random too; the run says how its validation was made."""
    import torch
    from torch_geometric.data import HeteroData

    from graphrec.cli import _split_line
    from graphrec.workflow import DataConfig, valid_origin

    hetero = HeteroData()
    hetero["user", "interacted", "item"].split = torch.tensor([0, 0, 2])
    assert valid_origin(hetero, DataConfig(seed=7)) == "random 0.1 of each user's train, seed 7"
    assert valid_origin(hetero, DataConfig(validation=False)) == "none"
    hetero["user", "interacted", "item"].split = torch.tensor([0, 1, 2])
    assert valid_origin(hetero, DataConfig()) == "the split's own"

    counts = {"train": 900, "valid": 100, "test": 250}
    stored = _split_line({"counts": counts, "split_origin": "stored",
                          "valid_origin": "random 0.1 of each user's train, seed 2020"})
    assert stored.startswith("split stored: 900 train, 100 valid, 250 test interactions (valid: random 0.1")
    assert "may not carry over" in stored
    own = _split_line({"counts": counts, "split_origin": "random 8:1:1 per user, seed 2020",
                       "valid_origin": "the split's own"})
    assert own == "split random 8:1:1 per user, seed 2020: 900 train, 100 valid, 250 test interactions"
    assert "--split temporal or --split time" in stored
    refit = _split_line({"counts": {**counts, "valid": 0}, "split_origin": "stored",
                         "valid_origin": "random 0.1 of each user's train, seed 2020"})
    assert "0 valid, 250 test interactions (searched on valid: random 0.1" in refit
    assert "(valid: random" in _split_line({"counts": counts, "split_origin": "time 0.8:0.1:0.1",
                                            "valid_origin": "random 0.1 of each user's train, seed 2020"})
    assert _split_line({"counts": {**counts, "valid": 0}, "split_origin": "random 0.8:0.1:0.1 per user, seed 2020",
                        "valid_origin": "the split's own"}).endswith("(searched on the split's own valid)")
    assert _split_line({"counts": counts, "split_origin": "stored"}).endswith("test interactions")  # an older run
