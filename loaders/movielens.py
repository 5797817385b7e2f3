"""MovieLens 100K (GroupLens ``ml-100k/``): ratings, movie titles, genres as a small knowledge graph, demographics.

* ``u.data`` (``user\\titem\\trating\\ttimestamp``): interactions with weight = rating and ts; no split.
* ``u.item`` (``|``-separated, latin-1): ``id|title|release date|video release date|IMDb URL|`` then 19 genre flags.
  Titles, dates and URLs become Item properties; each flag set to 1 becomes a triple
  ``(Item)-[HAS_GENRE]->(Entity:Genre {id: "genre:<name>", name})``.
* ``u.genre`` (``name|index``, optional): the genre names in flag order; without it the README's 19 names are used.
* ``u.user`` (``id|age|gender|occupation|zip``): User properties. Zip codes stay strings (some are Canadian).
"""

from __future__ import annotations

from pathlib import Path

from graphrec.errors import InputError

from ._text import fields, int_id, int_value, number_value, read_lines
from .records import Dataset, Interaction, Node, Triple

GENRE_RELATION = "HAS_GENRE"
GENRES = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
          "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western")
ITEM_COLUMNS = ("title", "release_date", "video_release_date", "imdb_url")
# GroupLens wrote latin-1 (titles such as "Misérables"); some copies were re-saved as UTF-8, so UTF-8 is tried first
# and latin-1 (which accepts any byte) second. Pass ``encoding=`` to force one.
ENCODING = ("utf-8", "latin-1")


def load(path: str | Path, *, genres: bool = True, items: bool = True, users: bool = True,
         encoding: str | tuple[str, ...] = ENCODING) -> Dataset:
    """Read an ml-100k folder; ``genres`` (the genre triples), ``items`` and ``users`` (attributes) can be left out."""
    folder = Path(path)
    if not folder.is_dir():
        raise InputError(folder, "expected the ml-100k folder holding u.data, u.item and u.user")
    dataset = Dataset(name=folder.name)

    file = folder / "u.data"
    for number, text in read_lines(file, encoding):
        user, item, rating, ts = fields(file, number, text, 4)
        dataset.interactions.append(Interaction(int_id(file, number, user, "user id"),
                                                int_id(file, number, item, "item id"),
                                                weight=number_value(file, number, rating, "rating"),
                                                ts=int_value(file, number, ts, "timestamp")))
    dataset.sources.append(file)

    if genres or items:
        names = _genre_names(folder / "u.genre", encoding)
        file = folder / "u.item"
        used: set[str] = set()
        for number, text in read_lines(file, encoding):
            row = fields(file, number, text, len(ITEM_COLUMNS) + 1 + len(names), "|")
            item = int_id(file, number, row[0], "movie id")
            if items:
                dataset.nodes.append(Node("Item", item, {k: v for k, v in zip(ITEM_COLUMNS, row[1:5]) if v}))
            for name, flag in zip(names, row[5:]):
                if flag not in ("0", "1"):
                    raise InputError(file, f"genre flag {name!r} must be 0 or 1, found {flag!r}", line=number)
                if flag == "1" and genres:
                    dataset.triples.append(Triple(item, GENRE_RELATION, f"genre:{name}", "Item", "Entity"))
                    used.add(name)
        dataset.nodes.extend(Node("Entity", f"genre:{name}", {"name": name}, ("Genre",))
                             for name in names if name in used)
        dataset.sources.append(file)

    if users:
        file = folder / "u.user"
        for number, text in read_lines(file, encoding):
            user, age, gender, occupation, zip_code = fields(file, number, text, 5, "|")
            dataset.nodes.append(Node("User", int_id(file, number, user, "user id"),
                                      {"age": int_value(file, number, age, "age"), "gender": gender,
                                       "occupation": occupation, "zip": zip_code}))
        dataset.sources.append(file)
    return dataset


def _genre_names(file: Path, encoding: str | tuple[str, ...]) -> tuple[str, ...]:
    """Genre names ordered by their flag index, from u.genre when the folder has it."""
    if not file.exists():
        return GENRES
    by_index: dict[int, str] = {}
    for number, text in read_lines(file, encoding):
        name, index = fields(file, number, text, 2, "|")
        by_index[int_value(file, number, index, "genre index")] = name
    if sorted(by_index) != list(range(len(by_index))):
        raise InputError(file, f"genre indexes must run 0..{len(by_index) - 1}, found {sorted(by_index)}")
    return tuple(by_index[i] for i in range(len(by_index)))
