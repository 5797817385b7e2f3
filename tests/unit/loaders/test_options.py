"""`-o NAME=VALUE` typed by the loader's own declared parameters (#34)."""

import pytest

import loaders
from graphrec.errors import ConfigError


def test_options_take_the_type_the_loader_declares():
    assert loaders.parse_options("lastfm", ["kg=false", "social=YES", "artists=0"]) == \
        {"kg": False, "social": True, "artists": False}
    # csv's kg is a file name, user_col a column name: text, never JSON
    assert loaders.parse_options("csv", ["kg=false", "user_col=1", "delimiter=\\t", "encoding=latin-1"]) == \
        {"kg": "false", "user_col": "1", "delimiter": "\t", "encoding": "latin-1"}


@pytest.mark.parametrize("fmt, text, wanted", [
    ("csv", "novalue", "expected NAME=VALUE"),
    ("csv", "nope=1", "unknown option 'nope' for format 'csv'"),
    ("csv", "encoding=klingon", "encoding='klingon' for format 'csv': not an encoding Python knows"),
    ("csv", "delimiter=;;", "expected one character"),
    ("movielens", "genres=perhaps", "genres='perhaps' for format 'movielens': expected true or false"),
    ("nosuch", "a=b", "unknown dataset format 'nosuch'"),
])
def test_a_bad_option_names_the_option_the_value_and_what_is_accepted(fmt, text, wanted):
    with pytest.raises(ConfigError, match=wanted.replace("(", r"\(")):
        loaders.parse_options(fmt, [text])


def test_a_column_named_by_digits_is_found(tmp_path):
    (tmp_path / "interactions.csv").write_text("1,2\nu1,i1\nu2,i1\n")
    dataset = loaders.load("csv", tmp_path, **loaders.parse_options("csv", ["user_col=1", "item_col=2"]))
    assert [(it.user, it.item) for it in dataset.interactions] == [("u1", "i1"), ("u2", "i1")]
