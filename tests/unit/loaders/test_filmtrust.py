"""FilmTrust: the explicit choice between the train/test split and all ratings, and the trust edges."""

from __future__ import annotations

import pytest

from graphrec.errors import ConfigError, InputError
from loaders import filmtrust
from loaders.records import Interaction, SocialEdge


def small_filmtrust(make_files, **replace: str):
    files = {"ratings.txt": "1 1 2\n1 2 4\n3 14 0.5\n", "trainset.txt": "1 1 2\n1 2 4\n", "testset.txt": "3 14 0.5\n",
             "trust.txt": "2 966 1\n"}
    files.update(replace)
    return make_files(files, folder="filmtrust")


@pytest.mark.parametrize("ratings, splits", [("split", {"train": 33_750, "test": 1_747}), ("all", {"none": 35_497})])
def test_real_counts_match_provenance(real_dataset, ratings, splits):
    dataset = filmtrust.load(real_dataset("filmtrust"), ratings=ratings)
    assert dataset.summary()["interactions"] == splits
    assert len({it.user for it in dataset.interactions}) == 1_508
    assert len({it.item for it in dataset.interactions}) == 2_071
    assert len(dataset.social) == 1_853
    assert len({e.src for e in dataset.social} | {e.dst for e in dataset.social}) == 874


def test_split_is_the_default(make_files):
    dataset = filmtrust.load(small_filmtrust(make_files))
    assert dataset.interactions == [Interaction("1", "1", 2.0, split="train"),
                                    Interaction("1", "2", 4.0, split="train"),
                                    Interaction("3", "14", 0.5, split="test")]
    assert dataset.social == [SocialEdge("2", "966", 1.0)]
    assert [it.split for it in filmtrust.load(small_filmtrust(make_files), ratings="all").interactions] == [None] * 3


def test_unknown_ratings_choice():
    with pytest.raises(ConfigError, match=r"ratings must be one of \['all', 'split'\], got 'both'"):
        filmtrust.load("anywhere", ratings="both")


def test_missing_split_file(make_files):
    folder = small_filmtrust(make_files)
    (folder / "testset.txt").unlink()
    with pytest.raises(InputError, match=r"testset\.txt: file not found"):
        filmtrust.load(folder)


def test_bad_rating(make_files):
    with pytest.raises(InputError, match=r"trainset\.txt, line 2: rating must be a number, found 'good'"):
        filmtrust.load(small_filmtrust(make_files, **{"trainset.txt": "1 1 2\n1 2 good\n"}))


def test_bad_trust_line(make_files):
    with pytest.raises(InputError, match=r"trust\.txt, line 1: expected 3 fields separated by whitespace, found 2"):
        filmtrust.load(small_filmtrust(make_files, **{"trust.txt": "2 966\n"}))
