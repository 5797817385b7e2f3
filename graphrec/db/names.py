"""Labels and relationship types that reach Cypher text. Values never do (they are $parameters); these are the only
identifiers built from data, so they pass through an allow-list or this sanitiser, and nothing else.

Cypher cannot take a label or a relationship type as a parameter on every server we support (Neo4j 5.26 added
``$(...)`` dynamic labels; ArcadeDB has none), so statements carry ``{{slot}}`` placeholders that
:func:`graphrec.db.cypher.render` fills with identifiers checked here.
"""

from __future__ import annotations

import hashlib
import re

from graphrec.errors import ConfigError

NODE_LABELS = frozenset({"User", "Item", "Entity"})
RESERVED_TYPES = frozenset({"INTERACTED", "FOLLOWS"})   # graphrec's own relationship types
RESERVED_LABELS = frozenset({"User", "Item", "Entity", "ModelRun"})
IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_MAX = 64
ELEMENT_ID = "elementId"   # a node-key slot given this names nodes by elementId(n) instead of a property
NO_TYPE = "GRAPHREC_NO_TYPE"  # what an empty list of relationship types renders as: a type no graph holds


def node_label(label: str) -> str:
    """One of the graph model's own node labels, or an error."""
    if label not in NODE_LABELS:
        raise ConfigError(f"node label {label!r} is not one of {sorted(NODE_LABELS)}")
    return label


def _shorten(text: str, original: str) -> str:
    if len(text) <= _MAX:
        return text
    digest = hashlib.sha1(original.encode("utf-8")).hexdigest()[:8]
    return f"{text[:_MAX - 9]}_{digest}"


def relationship_type(relation: str) -> str:
    """A safe relationship type for a KG relation name: ``film.film.genre`` → ``FILM_FILM_GENRE``.

    Anything outside ``[A-Za-z0-9]`` becomes ``_``; a type that would start with a digit or be empty gets ``REL_``;
    graphrec's own types get ``KG_`` so a KG can never masquerade as interactions or friendships. The source name is
    always kept on the edge as ``relation``, so distinct names that sanitise alike stay distinguishable.
    """
    text = re.sub(r"[^A-Za-z0-9]+", "_", relation).strip("_").upper()
    if not text or not text[0].isalpha():
        text = f"REL_{text}".rstrip("_")
    if text in RESERVED_TYPES:
        text = f"KG_{text}"
    return _shorten(text, relation)


def extra_label(label: str) -> str:
    """A safe extra node label (``Genre``, ``Tag``): letters, digits and ``_``, starting with a letter."""
    text = re.sub(r"[^A-Za-z0-9]+", "_", label).strip("_")
    if not text or not text[0].isalpha():
        text = f"L_{text}".rstrip("_")
    text = text[0].upper() + text[1:]
    if text in RESERVED_LABELS:
        raise ConfigError(f"extra label {label!r} would collide with graphrec's own label {text!r}")
    return _shorten(text, label)


def checked(identifier: str) -> str:
    """The last gate before an identifier is written into Cypher text."""
    if not IDENTIFIER.match(identifier):
        raise ConfigError(f"{identifier!r} is not a safe Cypher identifier")
    return identifier


def key_expression(key: str, variable: str) -> str:
    """How a statement reads the key of node ``variable``: ``n.`prop``` for a property, ``elementId(n)`` for
    :data:`ELEMENT_ID`."""
    checked(variable)
    return f"elementId({variable})" if key == ELEMENT_ID else f"{variable}.{checked(key)}"


class AllBut(tuple):
    """Every relationship type except these (rendered as the label expression ``!A&!B``)."""


def type_alternatives(types) -> str:
    """Relationship types as a pattern's alternatives (``A|B``), each checked; none at all match nothing;
    :class:`AllBut` types as ``!A&!B``."""
    if isinstance(types, AllBut):
        return "&".join(f"!{checked(t)}" for t in types)
    return "|".join(checked(t) for t in types) if types else NO_TYPE
