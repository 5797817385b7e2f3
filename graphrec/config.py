"""Typed settings, built once at the CLI edge: config file, then environment, then flags.

No module-level state: :func:`load_settings` returns a frozen :class:`Settings` that is passed down as an argument.
With no ``uri`` configured, graphrec uses its embedded graph server (see :mod:`graphrec.db.server`).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

from graphrec.errors import ConfigError
from graphrec.mapping import DEFAULT, GraphMapping, from_spec

ENV_KEYS = {
    "uri": "NEO4J_URI",
    "user": "NEO4J_USER",
    "password": "NEO4J_PASSWORD",
    "database": "NEO4J_DATABASE",
}
CONFIG_KEYS = ("uri", "user", "password", "database", "bolt_port", "http_port", "server_heap", "server_pagecache")


def default_home(environ: Mapping[str, str] | None = None) -> Path:
    """graphrec's home folder: ``$GRAPHREC_HOME`` or ``~/.graphrec``. Holds the embedded server, runs and config."""
    environ = os.environ if environ is None else environ
    home = environ.get("GRAPHREC_HOME")
    return Path(home).expanduser().resolve() if home else Path.home() / ".graphrec"


@dataclass(frozen=True)
class Settings:
    """Where the graph lives and how to reach it. ``uri=None`` means the embedded server in ``home``."""

    home: Path
    uri: str | None = None
    user: str = "neo4j"
    password: str | None = None
    database: str = "neo4j"
    bolt_port: int = 7687
    http_port: int = 7474
    server_heap: str = "2g"
    server_pagecache: str = "1g"
    mapping: GraphMapping = DEFAULT          # how the graph's labels and types are read (graphrec.mapping)
    origin: dict = field(default_factory=dict, compare=False)  # setting name -> where its value came from

    @property
    def embedded(self) -> bool:
        return self.uri is None

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    def masked(self) -> dict:
        """The resolved settings for display: the password never appears."""
        shown = {
            "mode": "embedded" if self.embedded else "external",
            "home": str(self.home),
            "uri": self.uri,
            "user": self.user,
            "password": None if self.password is None else "********",
            "database": self.database,
        }
        if self.embedded:  # the embedded Neo4j has its own neo4j user and generated password
            shown.update(uri="(embedded Neo4j; see `graphrec db status`)", user="neo4j",
                         password=f"(in {self.home / 'password'})", database="neo4j",
                         bolt_port=self.bolt_port, http_port=self.http_port, server_heap=self.server_heap,
                         server_pagecache=self.server_pagecache)
        if not self.mapping.is_default:
            shown["mapping"] = self.mapping.describe()
        shown["origin"] = dict(self.origin)
        return shown


def _read_config_file(path: Path) -> dict:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    section = dict(data.get("graphrec", data))
    mapping = data.get("mapping", section.pop("mapping", None))
    section.pop("mapping", None)
    if mapping is not None:
        section["mapping"] = from_spec(mapping, where=f"{path} [mapping]").describe()
    unknown = sorted(set(section) - set(CONFIG_KEYS) - {"mapping"})
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {unknown}; known: {list(CONFIG_KEYS)}")
    return section


def load_settings(
    config_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    **flags,
) -> Settings:
    """Resolve settings: ``<home>/config.toml`` (or ``config_file`` / ``$GRAPHREC_CONFIG``) < environment < flags.

    Flags whose value is None are ignored, so click options can be passed through unchanged.
    """
    environ = os.environ if environ is None else environ
    home = Path(flags.pop("home", None) or default_home(environ))
    values: dict = {}
    origin: dict = {}

    path = config_file or environ.get("GRAPHREC_CONFIG")
    if path is not None and not Path(path).is_file():
        raise ConfigError(f"config file {path} does not exist")
    path = Path(path) if path else home / "config.toml"
    if path.is_file():
        for key, value in _read_config_file(path).items():
            values[key], origin[key] = value, str(path)

    for key, env in ENV_KEYS.items():
        if environ.get(env):
            values[key], origin[key] = environ[env], env
    mapping_flags = {k: v for k, v in (flags.pop("mapping", None) or {}).items() if v not in (None, (), [])}
    for key, value in flags.items():
        if key not in CONFIG_KEYS:
            raise ConfigError(f"unknown setting {key!r}; known: {list(CONFIG_KEYS)}")
        if value is not None:
            values[key], origin[key] = value, "flag"

    for port in ("bolt_port", "http_port"):
        if port in values:
            try:
                values[port] = int(values[port])
            except (TypeError, ValueError):
                raise ConfigError(f"{port} must be an integer, got {values[port]!r} (from {origin[port]})") from None
    if values.get("uri") is not None and "://" not in str(values["uri"]):
        raise ConfigError(f"uri {values['uri']!r} (from {origin['uri']}) has no scheme; expected e.g. neo4j://host:7687")
    if values.get("uri") is not None and not values.get("password"):
        raise ConfigError(f"uri {values['uri']} is set but no password: set NEO4J_PASSWORD")
    if mapping_flags or "mapping" in values:
        spec = dict(values.get("mapping") or {}, **mapping_flags)
        values["mapping"] = from_spec(spec, where="the mapping options" if mapping_flags else origin["mapping"])
        if mapping_flags:
            origin["mapping"] = "flag"
    return replace(Settings(home=home), **values, origin=origin)
