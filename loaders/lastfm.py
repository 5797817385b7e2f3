"""HetRec 2011 Last.fm: user–artist listens, a friendship graph and KGCN's music knowledge graph.

The one public dataset with all three edge kinds. Files, relative to the dataset folder (``lastfm-hetrec2011/``):

* ``raw/user_artists.dat`` (``userID\\tartistID\\tweight``, header): interactions, weight = listen count, no split.
* ``raw/user_friends.dat`` (``userID\\tfriendID``, header): every row becomes one FOLLOWS edge. The file already holds
  both directions of each friendship (25,434 rows = 12,717 friendships), so nothing is mirrored here.
* ``raw/artists.dat`` (``id\\tname\\turl\\tpictureURL``, header, UTF-8): names and links as Item properties.
* ``kgcn_kg/kg.txt`` (``head\\trelation-name\\ttail``, CRLF) and ``kgcn_kg/item_index2entity_id.txt``
  (``artistID\\tentity_id``, CRLF), from KGCN: KG entities that are artists become ``Item`` ends with the artist id,
  the others ``Entity`` nodes keeping KGCN's entity id.
"""

from __future__ import annotations

from pathlib import Path

from graphrec.errors import InputError

from ._text import fields, int_id, number_value, read_lines
from .records import Dataset, Interaction, Node, SocialEdge, Triple


def load(path: str | Path, *, kg: bool = True, social: bool = True, artists: bool = True) -> Dataset:
    """Read the Last.fm folder; ``kg``, ``social`` and ``artists`` (item names) can each be left out."""
    folder = Path(path)
    if not folder.is_dir():
        raise InputError(folder, "expected the lastfm-hetrec2011 folder holding raw/ (and kgcn_kg/ for the KG)")
    dataset = Dataset(name=folder.name)

    file = folder / "raw" / "user_artists.dat"
    for number, text in read_lines(file, header="userID\tartistID\tweight", sep="\t"):
        user, artist, weight = fields(file, number, text, 3, "\t")
        dataset.interactions.append(Interaction(int_id(file, number, user, "userID"),
                                                int_id(file, number, artist, "artistID"),
                                                weight=number_value(file, number, weight, "weight")))
    dataset.sources.append(file)

    if social:
        file = folder / "raw" / "user_friends.dat"
        for number, text in read_lines(file, header="userID\tfriendID", sep="\t"):
            user, friend = fields(file, number, text, 2, "\t")
            dataset.social.append(SocialEdge(int_id(file, number, user, "userID"),
                                             int_id(file, number, friend, "friendID")))
        dataset.sources.append(file)

    if artists:
        file = folder / "raw" / "artists.dat"
        for number, text in read_lines(file, header="id\tname\turl\tpictureURL", sep="\t"):
            artist, name, url, picture = fields(file, number, text, 4, "\t")
            props = {"name": name, "url": url, "picture_url": picture}
            props = {key: value for key, value in props.items() if value}
            dataset.nodes.append(Node("Item", int_id(file, number, artist, "id"), props))
        dataset.sources.append(file)

    if kg:
        dataset.triples, entities = _read_kg(folder / "kgcn_kg")
        dataset.nodes.extend(Node("Entity", entity) for entity in sorted(entities, key=int))
        dataset.sources += [folder / "kgcn_kg" / "item_index2entity_id.txt", folder / "kgcn_kg" / "kg.txt"]
    return dataset


def _read_kg(kg_folder: Path) -> tuple[list[Triple], set[str]]:
    """KGCN's triples with artist entities mapped back to artist ids; also the ids of the non-artist entities."""
    file = kg_folder / "item_index2entity_id.txt"
    artist_of: dict[str, str] = {}
    for number, text in read_lines(file):
        artist, entity = fields(file, number, text, 2, "\t")
        entity = int_id(file, number, entity, "entity_id")
        if entity in artist_of:
            raise InputError(file, f"entity {entity} is mapped to two artists ({artist_of[entity]} and {artist})",
                             line=number)
        artist_of[entity] = int_id(file, number, artist, "artistID")

    file = kg_folder / "kg.txt"
    triples, entities = [], set()
    for number, text in read_lines(file):
        head, relation, tail = fields(file, number, text, 3, "\t")
        ends = []
        for entity in (int_id(file, number, head, "head"), int_id(file, number, tail, "tail")):
            if entity in artist_of:
                ends.append((artist_of[entity], "Item"))
            else:
                ends.append((entity, "Entity"))
                entities.add(entity)
        if not relation.strip():
            raise InputError(file, "empty relation name", line=number)
        triples.append(Triple(ends[0][0], relation, ends[1][0], ends[0][1], ends[1][1]))
    return triples, entities
