"""The error hierarchy. The CLI turns any GraphrecError into one line and a non-zero exit."""

from __future__ import annotations

from pathlib import Path


class GraphrecError(Exception):
    """Base class of every error graphrec raises on purpose."""


class ConfigError(GraphrecError):
    """A setting is missing, malformed or contradictory."""


class DatabaseError(GraphrecError):
    """The graph database could not be reached or refused a statement."""


class ServerError(GraphrecError):
    """The embedded graph server could not be started, stopped or inspected."""


class InputError(GraphrecError):
    """A data file is missing or malformed. Names the file and, where known, the line."""

    def __init__(self, path: str | Path, problem: str, line: int | None = None):
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}, line {line}" if line is not None else self.path
        super().__init__(f"{where}: {problem}")


class NotFoundError(GraphrecError):
    """A user, item, run or statement asked for does not exist."""


class ModelError(GraphrecError):
    """A model name, hyper-parameter or checkpoint is invalid."""
