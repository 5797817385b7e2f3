"""DiffNet's social-recommendation folders (``diffnet-yelp/``; DiffNet's flickr folder has the same shape).

* ``<name>.train.rating``, ``<name>.val.rating``, ``<name>.test.rating``: tab-separated ``user\\titem\\t1``, 0-based
  integer ids, one interaction per line → splits ``train`` / ``valid`` / ``test`` (the third column is the weight).
* ``<name>.links``: tab-separated ``user\\tfriend\\t1`` → one FOLLOWS edge per line, as written (not mirrored).

``<name>`` is found from the single ``*.train.rating`` in the folder unless ``prefix`` names it.
"""

from __future__ import annotations

from pathlib import Path

from graphrec.errors import InputError

from ._text import fields, int_id, number_value, read_lines
from .records import Dataset, Interaction, SocialEdge

SPLIT_SUFFIXES = (("train", ".train.rating"), ("valid", ".val.rating"), ("test", ".test.rating"))


def load(path: str | Path, *, prefix: str | None = None, social: bool = True) -> Dataset:
    """Read a DiffNet folder; ``prefix`` is the file-name stem (e.g. ``yelp``), ``social=False`` skips the links."""
    folder = Path(path)
    if not folder.is_dir():
        raise InputError(folder, "expected a DiffNet folder holding <name>.train.rating, .val.rating, .test.rating")
    if prefix is None:
        found = sorted(folder.glob("*.train.rating"))
        if len(found) != 1:
            raise InputError(folder, f"expected exactly one *.train.rating file, found {[f.name for f in found]}; "
                                     "pass prefix= to choose")
        prefix = found[0].name.removesuffix(".train.rating")
    dataset = Dataset(name=folder.name)
    for split, suffix in SPLIT_SUFFIXES:
        file = folder / f"{prefix}{suffix}"
        for number, text in read_lines(file):
            user, item, weight = fields(file, number, text, 3, "\t")
            dataset.interactions.append(Interaction(int_id(file, number, user, "user id"),
                                                    int_id(file, number, item, "item id"),
                                                    weight=number_value(file, number, weight, "rating"), split=split))
        dataset.sources.append(file)
    if social:
        file = folder / f"{prefix}.links"
        for number, text in read_lines(file):
            user, friend, weight = fields(file, number, text, 3, "\t")
            dataset.social.append(SocialEdge(int_id(file, number, user, "user id"),
                                             int_id(file, number, friend, "friend id"),
                                             number_value(file, number, weight, "link weight")))
        dataset.sources.append(file)
    return dataset
