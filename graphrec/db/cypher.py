"""Every Cypher statement graphrec runs lives in ``cypher/*.cypher`` and is loaded by name through :func:`statement`.

A file holds one or more named statements, each introduced by a header comment::

    // name: user_id_unique
    // Ensures one User node per business id.
    CREATE CONSTRAINT graphrec_user_id IF NOT EXISTS FOR (u:User) REQUIRE u.id IS UNIQUE

The full name is ``<file stem>.<name>`` (``schema.user_id_unique``). Statements are Neo4j 5 Cypher (5.18 or later).
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from pathlib import Path

from graphrec.errors import NotFoundError

_HEADER = re.compile(r"^//\s*name:\s*([A-Za-z_][A-Za-z0-9_]*)\s*$")


def cypher_dir() -> Path:
    """The folder of .cypher files: the ``cypher/`` next to this graphrec package in a checkout, else the installed
    wheel's graphrec._cypher. The checkout wins so that a second worktree run with PYTHONPATH reads its own
    statements, not those of the checkout an editable install points at."""
    checkout = Path(__file__).resolve().parents[2] / "cypher"
    if (checkout / "schema.cypher").is_file():
        return checkout
    try:
        path = Path(str(resources.files("graphrec._cypher")))
        if (path / "schema.cypher").is_file():
            return path
    except ModuleNotFoundError:
        pass
    return checkout


def parse(text: str, stem: str) -> dict[str, str]:
    """Split a .cypher file into ``{full name: statement}``; comments outside headers are kept as docs."""
    found: dict[str, str] = {}
    current: str | None = None
    lines: list[str] = []

    def flush() -> None:
        if current is not None:
            body = "\n".join(lines).strip().rstrip(";").strip()
            if not body or all(ln.strip().startswith("//") for ln in body.splitlines()):
                raise ValueError(f"{stem}.cypher: statement {current} is empty")
            found[current] = body

    for line in text.splitlines():
        match = _HEADER.match(line.strip())
        if match:
            flush()
            current, lines = f"{stem}.{match.group(1)}", []
            if current in found:
                raise ValueError(f"{stem}.cypher: statement {current} is defined twice")
        elif current is not None:
            lines.append(line)
    flush()
    return found


@functools.lru_cache(maxsize=None)
def _catalogue(folder: str) -> dict[str, str]:
    catalogue: dict[str, str] = {}
    for path in sorted(Path(folder).glob("*.cypher")):
        catalogue.update(parse(path.read_text(encoding="utf-8"), path.stem))
    return catalogue


def names() -> list[str]:
    """Every statement name, in file order."""
    return list(_catalogue(str(cypher_dir())))


def statement(name: str) -> str:
    """The text of statement ``name`` (``file.statement``)."""
    try:
        return _catalogue(str(cypher_dir()))[name]
    except KeyError:
        stem = name.split(".")[0]
        near = [n for n in names() if n.startswith(stem + ".")] or names()
        raise NotFoundError(f"no Cypher statement named {name!r}; known: {', '.join(near)}") from None


_SLOT = re.compile(r"\{\{([a-z_]+)(?::([a-z][a-z0-9_]*))?\}\}")


def render(text: str, **identifiers) -> str:
    """Fill a statement's ``{{slot}}`` placeholders with checked identifiers (labels, relationship types, property
    names) only; values never come through here.

    * ``{{slot}}`` takes one identifier, or a list of relationship types, written as alternatives (``A|B``);
    * ``{{slot:n}}`` is the key of node variable ``n``: the identifier is a property name (``n.prop``) or
      ``elementId`` (``elementId(n)``), see :mod:`graphrec.db.names`.

    Every slot must be given and every identifier must pass :func:`graphrec.db.names.checked`.
    """
    from graphrec.db.names import checked, key_expression, type_alternatives

    slots = {m.group(1) for m in _SLOT.finditer(text)}
    if slots != set(identifiers):
        raise ValueError(f"statement slots {sorted(slots)} do not match the identifiers given {sorted(identifiers)}")

    def fill(match: re.Match) -> str:
        value = identifiers[match.group(1)]
        if match.group(2):
            return key_expression(value, match.group(2))
        if isinstance(value, (list, tuple)):
            return type_alternatives(value)
        return checked(value)

    return _SLOT.sub(fill, text)


def slots(text: str) -> set[str]:
    """The slot names of a statement."""
    return {m.group(1) for m in _SLOT.finditer(text)}


def group(stem: str) -> list[str]:
    """Every statement of one file, in order (e.g. the schema)."""
    return [statement(name) for name in names() if name.startswith(stem + ".")]
