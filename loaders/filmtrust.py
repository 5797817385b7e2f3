"""FilmTrust (Guo et al.): explicit ratings and a directed trust graph.

* ``ratings.txt``: ``user item rating`` (whitespace-separated; ratings 0.5–4.0), all ratings, no split.
* ``trainset.txt`` / ``testset.txt``: the same rows split in two, as shipped by QRec → splits ``train`` / ``test``.
* ``trust.txt``: ``trustor trustee value`` → one FOLLOWS edge per line, weight = value.

The folder holds both views of the same ratings, so ``ratings`` chooses one explicitly: ``"split"`` (the default,
the published split) or ``"all"`` (ratings.txt, no split). Reading both would double every rating.
"""

from __future__ import annotations

from pathlib import Path

from graphrec.errors import ConfigError, InputError

from ._text import fields, int_id, number_value, read_lines
from .records import Dataset, Interaction, SocialEdge

RATING_FILES = {"split": (("train", "trainset.txt"), ("test", "testset.txt")), "all": ((None, "ratings.txt"),)}


def load(path: str | Path, *, ratings: str = "split", social: bool = True) -> Dataset:
    """Read a FilmTrust folder: ``ratings`` is ``"split"`` or ``"all"``; ``social=False`` skips trust.txt."""
    if ratings not in RATING_FILES:
        raise ConfigError(f"filmtrust: ratings must be one of {sorted(RATING_FILES)}, got {ratings!r}")
    folder = Path(path)
    if not folder.is_dir():
        raise InputError(folder, "expected a FilmTrust folder holding ratings.txt or trainset.txt/testset.txt")
    dataset = Dataset(name=folder.name)
    for split, filename in RATING_FILES[ratings]:
        file = folder / filename
        for number, text in read_lines(file):
            user, item, rating = fields(file, number, text, 3)
            dataset.interactions.append(Interaction(int_id(file, number, user, "user id"),
                                                    int_id(file, number, item, "item id"),
                                                    weight=number_value(file, number, rating, "rating"), split=split))
        dataset.sources.append(file)
    if social:
        file = folder / "trust.txt"
        for number, text in read_lines(file):
            trustor, trustee, value = fields(file, number, text, 3)
            dataset.social.append(SocialEdge(int_id(file, number, trustor, "trustor id"),
                                             int_id(file, number, trustee, "trustee id"),
                                             number_value(file, number, value, "trust value")))
        dataset.sources.append(file)
    return dataset
