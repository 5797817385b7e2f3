"""Dataset readers: one small module per source format, registered by name below.

Each loader is ``load(path, **options) -> Dataset`` and parses and validates *all* of its files before returning,
so a bad file is reported (as an InputError naming the file and line) before the ingest stage writes anything.
Adding a format is one module plus one line in ``LOADERS``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
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


def load(format_name: str, path: str | Path, **options: object) -> Dataset:
    """Read ``path`` with the loader registered as ``format_name``; unknown names and options are ConfigErrors."""
    try:
        loader = LOADERS[format_name]
    except KeyError:
        raise ConfigError(f"unknown dataset format {format_name!r}; choose one of {sorted(LOADERS)}") from None
    try:
        inspect.signature(loader).bind(path, **options)
    except TypeError:
        allowed = [name for name, p in inspect.signature(loader).parameters.items() if p.kind is p.KEYWORD_ONLY]
        unknown = sorted(set(options) - set(allowed))
        raise ConfigError(f"unknown option(s) {unknown} for format {format_name!r}; "
                          f"its options are {allowed}") from None
    return loader(path, **options)
