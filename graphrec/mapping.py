"""The graph mapping: which labels, relationship types and properties of a graph graphrec reads as users, items,
interactions, knowledge graph and social graph.

graphrec's own schema (what ``graphrec ingest`` writes: ``(:User)-[:INTERACTED]->(:Item)``, KG edges carrying
``relation``, ``(:User)-[:FOLLOWS]->(:User)``) is simply :data:`DEFAULT`. A graph in the user's own shape, e.g.
``(:Customer {customerNo})-[:PURCHASED|VIEWED]->(:Product {sku})-[:IN_CATEGORY]->(:Category)``, gets a mapping in the
config file's ``[mapping]`` section or as CLI options, and every stage (export, training, publish, serving, explain)
reads the graph through it.

Every name in a mapping is an identifier checked by :mod:`graphrec.db.names` before it can reach Cypher text, and
:func:`resolve` checks each against the connected graph before any work, so a misspelled label fails with one line
that lists what the graph has.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Mapping

from graphrec.db import cypher
from graphrec.db.names import ELEMENT_ID, IDENTIFIER, AllBut
from graphrec.errors import ConfigError

if TYPE_CHECKING:
    from graphrec.db.connect import Graph

OPERATORS = ("<=", ">=", "<>", "!=", "=", "<", ">")
_FILTER = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_]*)\s*(<=|>=|<>|!=|=|<|>)\s*(.+?)\s*$")


def _name(value: Any, what: str, allow_element_id: bool = False) -> str:
    if allow_element_id and value == ELEMENT_ID:
        return value
    if not isinstance(value, str) or not IDENTIFIER.match(value):
        raise ConfigError(f"mapping: {what} {value!r} is not a plain name (letters, digits and _, starting with a "
                          "letter)" + ("; or elementId" if allow_element_id else ""))
    return value


@dataclass(frozen=True)
class Filter:
    """Keep an interaction only when ``property op value`` holds (``rating >= 4``); a missing property fails it."""

    property: str
    op: str
    value: Any

    def __post_init__(self):
        _name(self.property, "filter property")
        if self.op not in OPERATORS:
            raise ConfigError(f"mapping: filter operator {self.op!r} is not one of {list(OPERATORS)}")

    @classmethod
    def parse(cls, text: str) -> "Filter":
        match = _FILTER.match(text or "")
        if not match:
            raise ConfigError(f"mapping: filter {text!r} is not PROPERTY OP VALUE, e.g. 'rating >= 4'")
        prop, op, raw = match.groups()
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw.strip("'")
        return cls(prop, op, value)

    def keeps(self, value: Any) -> bool:
        if value is None:
            return False
        try:
            return {"=": value == self.value, "<>": value != self.value, "!=": value != self.value,
                    "<": value < self.value, "<=": value <= self.value, ">": value > self.value,
                    ">=": value >= self.value}[self.op]
        except TypeError:
            return False

    def __str__(self) -> str:
        return f"{self.property} {self.op} {json.dumps(self.value)}"


@dataclass(frozen=True)
class Interaction:
    """One interaction relationship type, from a user to an item. ``weight``: a constant (``3.0`` for a purchase
    against ``1.0`` for a view) or the name of a property (``rating``); ``timestamp``: a property holding epoch
    seconds (an integer or float) or a Neo4j date-time; ``split``: a property holding train / valid / test, where the
    graph stores its own split; ``where``: a :class:`Filter`."""

    type: str
    weight: float | str | None = None
    timestamp: str | None = None
    split: str | None = None
    where: Filter | None = None

    def __post_init__(self):
        _name(self.type, "interaction type")
        if isinstance(self.weight, bool) or not (self.weight is None or isinstance(self.weight, (int, float))):
            _name(self.weight, f"weight property of {self.type}")
        elif isinstance(self.weight, (int, float)) and not (math.isfinite(self.weight) and self.weight > 0):
            raise ConfigError(f"mapping: the weight of {self.type} must be a positive number, got {self.weight!r}")
        for what in ("timestamp", "split"):
            if getattr(self, what) is not None:
                _name(getattr(self, what), f"{what} property of {self.type}")

    @classmethod
    def parse(cls, text: str) -> "Interaction":
        """``TYPE[,weight=PROP|NUMBER][,timestamp=PROP][,split=PROP][,where=PROP OP VALUE]`` (the CLI's form)."""
        head, *parts = [p.strip() for p in text.split(",")]
        fields: dict[str, Any] = {}
        for part in parts:
            key, sep, value = part.partition("=")
            key = {"ts": "timestamp"}.get(key.strip(), key.strip())
            if not sep or key not in ("weight", "timestamp", "split", "where"):
                raise ConfigError(f"mapping: {part!r} in interaction {text!r} is not weight=, timestamp=, split= or "
                                  "where=")
            fields[key] = value.strip()
        return cls.of({"type": head, **fields})

    @classmethod
    def of(cls, spec: Mapping | str) -> "Interaction":
        if isinstance(spec, str):
            return cls.parse(spec)
        spec = dict(spec)
        unknown = sorted(set(spec) - {"type", "weight", "timestamp", "ts", "split", "where"})
        if unknown:
            raise ConfigError(f"mapping: unknown interaction field(s) {unknown}; known: type, weight, timestamp, "
                              "split, where")
        weight = spec.get("weight")
        if isinstance(weight, str):
            try:
                weight = float(weight)
            except ValueError:
                pass
        where = spec.get("where")
        return cls(spec.get("type"), weight, spec.get("timestamp", spec.get("ts")), spec.get("split"),
                   Filter.parse(where) if isinstance(where, str) else where)

    @property
    def weight_property(self) -> str | None:
        return self.weight if isinstance(self.weight, str) else None

    def describe(self) -> dict:
        out: dict[str, Any] = {"type": self.type}
        for key in ("weight", "timestamp", "split"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.where is not None:
            out["where"] = str(self.where)
        return out


@dataclass(frozen=True)
class GraphMapping:
    """Which parts of the graph are users, items, interactions, KG and social ties (see the module doc).

    ``kg=None`` is graphrec's own KG (every relationship carrying a ``relation`` property, its entities labelled
    ``Entity``); a tuple names the KG relationship types that hang off items (in either direction, towards nodes of
    any label), followed ``kg_hops`` hops out. ``social`` types link users; ``social_directed=False`` reads each tie
    both ways. ``key_types`` is filled by :func:`resolve`: whether each key property holds integers.
    """

    user_label: str = "User"
    user_id: str = "id"
    item_label: str = "Item"
    item_id: str = "id"
    interactions: tuple[Interaction, ...] = (Interaction("INTERACTED", "weight", "ts", "split"),)
    kg: tuple[str, ...] | None = None
    kg_hops: int = 1
    social: tuple[str, ...] = ("FOLLOWS",)
    social_directed: bool = True
    key_types: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def __post_init__(self):
        _name(self.user_label, "user label")
        _name(self.item_label, "item label")
        _name(self.user_id, "user id property", allow_element_id=True)
        _name(self.item_id, "item id property", allow_element_id=True)
        if self.user_label == self.item_label:
            raise ConfigError(f"mapping: users and items cannot share the label {self.user_label!r}")
        if not self.interactions:
            raise ConfigError("mapping: at least one interaction type is needed")
        object.__setattr__(self, "interactions", tuple(Interaction.of(i) if not isinstance(i, Interaction) else i
                                                       for i in self.interactions))
        types = [i.type for i in self.interactions]
        if len(set(types)) != len(types):
            raise ConfigError(f"mapping: interaction types repeat: {types}")
        for what in ("kg", "social"):
            value = getattr(self, what)
            if value is None:
                continue
            value = (value,) if isinstance(value, str) else tuple(value)
            object.__setattr__(self, what, value)
            for t in value:
                _name(t, f"{what} type")
                if t in types:
                    raise ConfigError(f"mapping: {t} cannot be both an interaction type and a {what} type")
        if set(self.kg or ()) & set(self.social):
            raise ConfigError(f"mapping: {sorted(set(self.kg) & set(self.social))} cannot be both KG and social")
        if isinstance(self.kg_hops, bool) or not isinstance(self.kg_hops, int) or not 1 <= self.kg_hops <= 5:
            raise ConfigError(f"mapping: kg_hops must be an integer in 1..5, got {self.kg_hops!r}")
        if not isinstance(self.social_directed, bool):
            raise ConfigError(f"mapping: social_directed must be true or false, got {self.social_directed!r}")

    # -- what statements see ------------------------------------------------------------------------------------
    @property
    def is_default(self) -> bool:
        return self == DEFAULT

    @property
    def interaction_types(self) -> tuple[str, ...]:
        return tuple(i.type for i in self.interactions)

    @property
    def kg_types(self) -> tuple[str, ...]:
        """The KG relationship types; graphrec's own KG: every type but the interaction and social ones (ingest
        writes one type per source relation, whose names only the graph knows)."""
        if self.kg is not None:
            return self.kg
        return AllBut(self.interaction_types + self.social)

    @property
    def entity_id(self) -> str:
        """How KG entities are named: graphrec's own ``Entity.id``; a mapped KG's nodes by elementId (nodes of
        several labels may share an id value)."""
        return "id" if self.kg is None else ELEMENT_ID

    def slots(self) -> dict[str, Any]:
        """The identifier slots a statement may use (graphrec.db.cypher.render)."""
        return {"user": self.user_label, "item": self.item_label, "user_key": self.user_id,
                "item_key": self.item_id, "interactions": self.interaction_types, "social": self.social,
                "kg": self.kg_types}

    def render(self, text: str, **given) -> str:
        """``text`` with its slots filled: those ``given``, then this mapping's; a text without slots as it is."""
        wanted = cypher.slots(text)
        if not wanted:
            return text
        return cypher.render(text, **{**{k: v for k, v in self.slots().items() if k in wanted}, **given})

    def fields(self) -> dict[str, list[str]]:
        """Per interaction type, the property names export reads: [split, weight, timestamp, filter] ('' for none)."""
        return {i.type: [i.split or "", i.weight_property or "", i.timestamp or "",
                         i.where.property if i.where else ""] for i in self.interactions}

    def key(self, kind: str, ident: str) -> Any:
        """A business id as the graph stores it: ids travel as text, and a key property holding integers gets an
        integer (so that ``n.key = $id`` can use the index)."""
        if dict(self.key_types).get(kind) == "integer":
            try:
                return int(ident)
            except (TypeError, ValueError):
                return ident
        return ident

    # -- reading and writing it ---------------------------------------------------------------------------------
    def describe(self) -> dict:
        """The mapping as the config file's ``[mapping]`` section (JSON-able)."""
        out: dict[str, Any] = {"user_label": self.user_label, "user_id": self.user_id,
                               "item_label": self.item_label, "item_id": self.item_id,
                               "interactions": [i.describe() for i in self.interactions]}
        if self.kg is not None:
            out.update(kg=list(self.kg), kg_hops=self.kg_hops)
        out.update(social=list(self.social), social_directed=self.social_directed)
        return out

    def toml(self) -> str:
        """The mapping as a ``[mapping]`` TOML section, ready to paste into a config file."""
        def value(v):
            return json.dumps(v) if not isinstance(v, bool) else str(v).lower()
        spec = self.describe()
        lines = ["[mapping]"]
        for key in ("user_label", "user_id", "item_label", "item_id", "kg", "kg_hops", "social", "social_directed"):
            if key in spec:
                lines.append(f"{key} = {value(spec[key])}")
        for inter in spec["interactions"]:
            lines += ["", "[[mapping.interactions]]"] + [f"{k} = {value(v)}" for k, v in inter.items()]
        return "\n".join(lines) + "\n"


DEFAULT = GraphMapping()
MAPPING_KEYS = ("user_label", "user_id", "item_label", "item_id", "interactions", "kg", "kg_hops", "social",
                "social_directed")


def from_spec(spec: Mapping, where: str = "mapping") -> GraphMapping:
    """A mapping from a config section or CLI options (missing keys take graphrec's own schema's values)."""
    unknown = sorted(set(spec) - set(MAPPING_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown mapping key(s) {unknown}; known: {list(MAPPING_KEYS)}")
    values = {k: v for k, v in spec.items() if v is not None}
    if "interactions" in values:
        inters = values["interactions"]
        inters = [inters] if isinstance(inters, (str, Mapping)) else inters
        values["interactions"] = tuple(Interaction.of(i) for i in inters)
    for key in ("kg", "social"):
        if isinstance(values.get(key), str):
            values[key] = (values[key],)
    try:
        return GraphMapping(**values)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None


# -- checking a mapping against the graph --------------------------------------------------------------------------

def _one_of(what: str, name: str, known) -> ConfigError:
    known = sorted(known)
    return ConfigError(f"mapping: {what} {name!r} is not in the graph; it has: {', '.join(known) or 'none'}")


def resolve(graph: "Graph", mapping: GraphMapping) -> GraphMapping:
    """Check every name of ``mapping`` against the graph (before any work) and fill what only the graph knows: the
    type of each key property and graphrec's own KG types. graphrec's own schema is not checked (an empty graph is
    where ingest starts); a mapped one is, and the first wrong name raises ConfigError listing what the graph has."""
    if mapping.is_default:
        return mapping
    labels = {r["label"] for r in graph.read("mapping.labels")}
    types = {r["type"] for r in graph.read("mapping.relationship_types")}
    keys = {r["key"] for r in graph.read("mapping.property_keys")}
    for what, label in (("user label", mapping.user_label), ("item label", mapping.item_label)):
        if label not in labels:
            raise _one_of(what, label, labels)
    for what, names in (("interaction type", mapping.interaction_types), ("KG type", mapping.kg or ()),
                        ("social type", mapping.social)):
        for name in names:
            if name not in types:
                raise _one_of(what, name, types)
    for inter in mapping.interactions:
        for what, prop in (("weight property", inter.weight_property), ("timestamp property", inter.timestamp),
                           ("split property", inter.split), ("filter property", inter.where and inter.where.property)):
            if prop and prop not in keys:
                raise ConfigError(f"mapping: {what} {prop!r} of {inter.type} is not in the graph; its property "
                                  f"keys: {', '.join(sorted(keys))}")
    key_types = []
    for kind, label, key in (("user", mapping.user_label, mapping.user_id), ("item", mapping.item_label, mapping.item_id)):
        if key == ELEMENT_ID:
            key_types.append((kind, "string"))
            continue
        row = graph.read("mapping.key_profile", {"label": label, "key": key})[0]
        if row["missing"]:
            props = sorted(graph.read("mapping.label_properties", {"label": label})[0]["keys"])
            raise ConfigError(f"mapping: {row['missing']:,} of {row['nodes']:,} :{label} nodes have no {key!r}; "
                              f"their properties: {', '.join(props) or 'none'}; set {kind}_id to one of them that "
                              "names each node, or to elementId")
        if row["distinct"] != row["nodes"]:
            raise ConfigError(f"mapping: {key!r} does not name :{label} nodes uniquely ({row['nodes']:,} nodes, "
                              f"{row['distinct']:,} distinct values); choose another {kind}_id, or elementId")
        kinds = set(row["kinds"])
        if not kinds <= {"integer", "string"} or len(kinds) > 1:
            raise ConfigError(f"mapping: {label}.{key} holds {sorted(kinds)} values; an id must be all integers or all "
                              "strings")
        key_types.append((kind, kinds.pop() if kinds else "string"))
    return replace(mapping, key_types=tuple(key_types))
