"""The LightGCN / NGCF / KGAT line format, with KGAT's optional knowledge graph.

Used by lightgcn-gowalla, kgat-amazon-book and ml-1m-implicit-lightgcnpp. A dataset folder holds:

* ``train.txt``, ``test.txt`` and optionally ``valid.txt``: one line per user, ``uid iid iid ...``, whitespace-separated
  integer ids, no header. A line holding only the uid (a user with no items in that split: kgat-amazon-book's test.txt
  has 88 of them) is legal and yields nothing. Each file becomes the split of the same name.
* optionally ``user_list.txt`` / ``item_list.txt`` (header, then ``org_id remap_id [freebase_id]``): the source's
  original ids, kept as ``org_id`` / ``freebase_id`` properties of the User / Item nodes.
* optionally KGAT's ``kg_final.txt`` (``h r t``, integer ids). KGAT numbers items and entities in one space: an entity
  id below ``n_items`` *is* that item, so it gets the label ``Item`` and the item id; larger ids are ``Entity`` nodes.
  ``n_items`` follows KGAT's own rule: the largest item id in the interaction files plus one. With
  ``relation_list.txt`` / ``entity_list.txt`` (header, then ``org_id remap_id``) relations are named by their
  ``org_id`` and entities carry it as a property; without them a relation's name is its integer id.
"""

from __future__ import annotations

from pathlib import Path

from graphrec.errors import InputError

from ._text import Line, check_int_ids, fields, int_id, read_lines
from .records import Dataset, Interaction, Node, Triple

SPLIT_FILES = (("train", "train.txt", True), ("test", "test.txt", True), ("valid", "valid.txt", False))


def load(path: str | Path, *, kg: bool = True, names: bool = True) -> Dataset:
    """Read a LightGCN-format folder; ``kg=False`` ignores kg_final.txt, ``names=False`` the *_list.txt files."""
    folder = Path(path)
    if not folder.is_dir():
        raise InputError(folder, "expected a dataset folder holding train.txt and test.txt")
    dataset = Dataset(name=folder.name)
    for split, filename, required in SPLIT_FILES:
        file = folder / filename
        if required or file.exists():
            dataset.interactions.extend(_read_split(file, split))
            dataset.sources.append(file)
    if names:
        for label, filename in (("User", "user_list.txt"), ("Item", "item_list.txt")):
            if (folder / filename).exists():
                dataset.nodes.extend(_read_id_list(folder / filename, label))
                dataset.sources.append(folder / filename)
    kg_file = folder / "kg_final.txt"
    if kg and kg_file.exists():
        n_items = 1 + max((int(it.item) for it in dataset.interactions), default=-1)
        lists = [folder / "relation_list.txt", folder / "entity_list.txt"] if names else []
        relation_names, entity_names = (_org_names(file) for file in lists) if lists else ({}, {})
        dataset.sources += [file for file in lists if file.exists()]
        dataset.triples.extend(_read_kg(kg_file, n_items, relation_names))
        dataset.sources.append(kg_file)
        entities = sorted({t.tail for t in dataset.triples if t.tail_label == "Entity"}
                          | {t.head for t in dataset.triples if t.head_label == "Entity"}, key=int)
        dataset.nodes.extend(Node("Entity", e, {"org_id": entity_names[e]} if e in entity_names else {})
                             for e in entities)
    return dataset


def _read_split(file: Path, split: str) -> list[Interaction]:
    interactions: list[Interaction] = []
    add = interactions.append
    for number, text in read_lines(file):
        ids = text.split()
        check_int_ids(file, number, ids, "every id")
        user = ids[0]
        for item in ids[1:]:
            add(Interaction(user, item, split=split))
    return interactions


def _read_id_list(file: Path, label: str) -> list[Node]:
    """``org_id remap_id [freebase_id]`` rows as nodes whose id is the remapped id used everywhere else."""
    lines = read_lines(file)
    columns = lines[0][1].split()
    if columns[:2] != ["org_id", "remap_id"]:
        raise InputError(file, f"expected a header starting with 'org_id remap_id', found {lines[0][1][:120]!r}",
                         line=lines[0][0])
    nodes = []
    for number, text in _data(file, lines):
        row = fields(file, number, text, len(columns))
        nodes.append(Node(label, int_id(file, number, row[1], "remap_id"),
                          {name: value for name, value in zip(columns, row) if name != "remap_id"}))
    return nodes


def _org_names(file: Path) -> dict[str, str]:
    """remap_id → org_id from ``org_id remap_id`` lists. The org id may hold spaces or be empty (KGAT's
    entity_list.txt has both), so the remap id is the last field and the org id everything before it."""
    if not file.exists():
        return {}
    names: dict[str, str] = {}
    for number, text in read_lines(file, header="org_id remap_id"):
        org_id, _, remap_id = text.rstrip().rpartition(" ")
        names[int_id(file, number, remap_id, "remap_id")] = org_id.strip()
    return names


def _data(file: Path, lines: list[Line]) -> list[Line]:
    if len(lines) < 2:
        raise InputError(file, "the file holds a header but no data")
    return lines[1:]


def _read_kg(file: Path, n_items: int, relation_names: dict[str, str]) -> list[Triple]:
    triples = []
    for number, text in read_lines(file):
        ids = fields(file, number, text, 3)
        check_int_ids(file, number, ids, "head, relation and tail")
        head, relation, tail = ids
        triples.append(Triple(head, relation_names.get(relation, relation), tail,
                              "Item" if int(head) < n_items else "Entity",
                              "Item" if int(tail) < n_items else "Entity"))
    return triples
