"""Dataset readers: one small module per source format, registered by name below.

Each loader is ``load(path, **options) -> Dataset`` and parses and validates *all* of its files before returning,
so a bad file is reported (as an InputError naming the file and line) before the ingest stage writes anything.
Adding a format is one module plus one line in ``LOADERS``.
"""

from __future__ import annotations

import codecs
import inspect
import typing
from collections.abc import Callable, Iterable
from pathlib import Path

from graphrec.errors import ConfigError

from . import csv_files, diffnet, filmtrust, lastfm, lightgcn, movielens
from .records import Dataset

Loader = Callable[..., Dataset]

LOADERS: dict[str, Loader] = {
    "lightgcn": lightgcn.load,
    "lastfm": lastfm.load,
    "movielens": movielens.load,
    "diffnet": diffnet.load,
    "filmtrust": filmtrust.load,
    "csv": csv_files.load,
}


def _loader(format_name: str) -> Loader:
    try:
        return LOADERS[format_name]
    except KeyError:
        raise ConfigError(f"unknown dataset format {format_name!r}; choose one of {sorted(LOADERS)}") from None


def option_names(format_name: str) -> list[str]:
    """The options (keyword-only parameters) of a format's loader, in declaration order."""
    params = inspect.signature(_loader(format_name)).parameters
    return [name for name, p in params.items() if p.kind is p.KEYWORD_ONLY]


_TRUE, _FALSE = {"true", "yes", "on", "1"}, {"false", "no", "off", "0"}


def parse_options(format_name: str, pairs: Iterable[str]) -> dict[str, object]:
    """``NAME=VALUE`` texts (the CLI's ``-o``) as the loader's own keyword arguments, each typed by the loader's declared
    parameter: a bool from true/false/yes/no/on/off/1/0, an int from digits, anything else as the text itself (so
    ``user_col=1`` names the column called "1"). ``delimiter`` reads backslash escapes (``\\t`` is a tab) and must be one
    character; ``encoding`` must be one Python knows. A bad one is a ConfigError naming the option, the value and what
    is accepted."""
    loader = _loader(format_name)
    allowed = option_names(format_name)
    hints = typing.get_type_hints(loader)
    options: dict[str, object] = {}
    for text in pairs:
        name, sep, raw = text.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ConfigError(f"option {text!r} for format {format_name!r}: expected NAME=VALUE; its options are "
                              f"{allowed}")
        if name not in allowed:
            raise ConfigError(f"unknown option {name!r} for format {format_name!r}; its options are {allowed}")
        options[name] = _typed(format_name, name, raw, hints.get(name, str))
    return options


def _typed(format_name: str, name: str, raw: str, hint: object) -> object:
    kinds = set(typing.get_args(hint)) or {hint}
    where = f"option {name}={raw!r} for format {format_name!r}"
    if bool in kinds:
        if raw.strip().lower() in _TRUE:
            return True
        if raw.strip().lower() in _FALSE:
            return False
        raise ConfigError(f"{where}: expected true or false")
    if int in kinds and str not in kinds:
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{where}: expected a whole number") from None
    if name == "delimiter":
        value = codecs.decode(raw, "unicode_escape") if "\\" in raw else raw
        if len(value) != 1:
            raise ConfigError(f"{where}: expected one character, e.g. ',' or ';' or '\\t' for a tab")
        return value
    if name == "encoding":
        try:
            codecs.lookup(raw)
        except LookupError:
            raise ConfigError(f"{where}: not an encoding Python knows; e.g. utf-8, latin-1, utf-16") from None
    return raw


def load(format_name: str, path: str | Path, **options: object) -> Dataset:
    """Read ``path`` with the loader registered as ``format_name``; unknown names and options are ConfigErrors."""
    loader = _loader(format_name)
    try:
        inspect.signature(loader).bind(path, **options)
    except TypeError:
        allowed = option_names(format_name)
        unknown = sorted(set(options) - set(allowed))
        raise ConfigError(f"unknown option(s) {unknown} for format {format_name!r}; "
                          f"its options are {allowed}") from None
    dataset = loader(path, **options)
    dataset.format = format_name
    return dataset
