"""The loader registry: names, choices, docstrings, option checking."""

from __future__ import annotations

import inspect

import pytest

import loaders
from graphrec.errors import ConfigError
from loaders.records import Interaction


def test_unknown_format_lists_the_choices():
    with pytest.raises(ConfigError, match=r"unknown dataset format 'kgat'; choose one of \['csv', 'diffnet', "
                                          r"'filmtrust', 'lastfm', 'lightgcn', 'movielens'\]"):
        loaders.load("kgat", "anywhere")


@pytest.mark.parametrize("name", sorted(loaders.LOADERS))
def test_every_loader_is_documented_and_keyword_only(name):
    loader = loaders.LOADERS[name]
    assert inspect.getdoc(loader) and inspect.getdoc(inspect.getmodule(loader))
    path, *options = inspect.signature(loader).parameters.values()
    assert path.name == "path" and all(option.kind is option.KEYWORD_ONLY for option in options)


def test_unknown_option_lists_the_options():
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['friends'\] for format 'filmtrust'; "
                                          r"its options are \['ratings', 'social'\]"):
        loaders.load("filmtrust", "anywhere", friends=False)


def test_load_dispatches_with_options(make_files):
    folder = make_files({"interactions.csv": "u;i\n1;2\n"})
    dataset = loaders.load("csv", folder, user_col="u", item_col="i", delimiter=";")
    assert dataset.interactions == [Interaction("1", "2")]
