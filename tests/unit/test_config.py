import pytest

from graphrec.config import load_settings
from graphrec.errors import ConfigError


def test_embedded_by_default(tmp_path):
    s = load_settings(home=str(tmp_path), environ={})
    assert s.embedded and s.uri is None
    assert s.masked()["mode"] == "embedded"


def test_file_then_environment_then_flags(tmp_path):
    (tmp_path / "config.toml").write_text('[graphrec]\nuri = "bolt://file:7687"\nuser = "fileuser"\n'
                                          'password = "filepw"\ndatabase = "filedb"\n')
    env = {"NEO4J_USER": "envuser", "NEO4J_PASSWORD": "envpw"}
    s = load_settings(home=str(tmp_path), environ=env, database="flagdb")
    assert (s.uri, s.user, s.password, s.database) == ("bolt://file:7687", "envuser", "envpw", "flagdb")
    assert s.origin["uri"].endswith("config.toml") and s.origin["user"] == "NEO4J_USER" and s.origin["database"] == "flag"


def test_password_is_masked(tmp_path):
    s = load_settings(home=str(tmp_path), environ={"NEO4J_URI": "neo4j://db:7687", "NEO4J_PASSWORD": "s3cret!"})
    shown = s.masked()
    assert "s3cret!" not in str(shown) and shown["password"] == "********"


def test_graphrec_home_from_environment(tmp_path):
    s = load_settings(environ={"GRAPHREC_HOME": str(tmp_path / "h")})
    assert s.home == (tmp_path / "h").resolve()


@pytest.mark.parametrize("text, message", [
    ("[graphrec]\nuri = ", "not valid TOML"),
    ("[graphrec]\ncolour = 'blue'\n", "unknown setting"),
    ("[graphrec]\nbolt_port = 'x'\n", "bolt_port must be an integer"),
    ("[graphrec]\nuri = 'localhost:7687'\npassword='p'\n", "has no scheme"),
    ("[graphrec]\nuri = 'bolt://x:7687'\n", "no password"),
])
def test_bad_config_files_name_the_problem(tmp_path, text, message):
    (tmp_path / "config.toml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_settings(home=str(tmp_path), environ={})


def test_missing_explicit_config_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", home=str(tmp_path), environ={})
