"""MovieLens 100K: ratings with timestamps, genres as a small KG, item and user attributes."""

from __future__ import annotations

import pytest

from graphrec.errors import InputError
from loaders import movielens
from loaders.records import Interaction, Triple

GENRE = "unknown|0\nAction|1\nComedy|2\n\n"


def small_ml(make_files, **replace: str | bytes):
    files = {"u.data": "196\t242\t3\t881250949\n186\t302\t4.5\t891717742\n",
             "u.item": b"242|Mis\xe9rables, Les (1995)|01-Jan-1995||http://x|0|1|1\n302|Heat|||http://y|1|0|0\n",
             "u.genre": GENRE, "u.user": "196|49|M|writer|55105\n186|39|F|executive|T8H1N\n"}
    files.update(replace)
    return make_files(files, folder="ml")


def test_real_counts_match_provenance(real_dataset):
    dataset = movielens.load(real_dataset("ml-100k"))
    assert dataset.summary() == {"users": 943, "items": 1_682, "interactions": {"none": 100_000},
                                 "triples": 2_893, "relations": 1, "social": 0}
    labels = [node.label for node in dataset.nodes]
    assert (labels.count("User"), labels.count("Item"), labels.count("Entity")) == (943, 1_682, 19)


def test_small_folder_latin1_genres_and_users(make_files):
    dataset = movielens.load(small_ml(make_files))
    assert dataset.interactions == [Interaction("196", "242", 3.0, 881250949),
                                    Interaction("186", "302", 4.5, 891717742)]
    assert dataset.triples == [Triple("242", "HAS_GENRE", "genre:Action", "Item", "Entity"),
                               Triple("242", "HAS_GENRE", "genre:Comedy", "Item", "Entity"),
                               Triple("302", "HAS_GENRE", "genre:unknown", "Item", "Entity")]
    nodes = {(n.label, n.id): n for n in dataset.nodes}
    assert nodes["Item", "242"].props == {"title": "Misérables, Les (1995)", "release_date": "01-Jan-1995",
                                          "imdb_url": "http://x"}
    assert nodes["Entity", "genre:Action"].props == {"name": "Action"}
    assert nodes["Entity", "genre:Action"].extra_labels == ("Genre",)
    assert nodes["User", "186"].props == {"age": 39, "gender": "F", "occupation": "executive", "zip": "T8H1N"}


def test_parts_can_be_skipped(make_files):
    dataset = movielens.load(small_ml(make_files, **{"u.user": "broken"}), genres=False, items=False, users=False)
    assert (len(dataset.interactions), dataset.triples, dataset.nodes) == (2, [], [])


def test_non_numeric_rating(make_files):
    with pytest.raises(InputError, match=r"u\.data, line 2: rating must be a number, found 'five'"):
        movielens.load(small_ml(make_files, **{"u.data": "1\t2\t3\t4\n1\t3\tfive\t4\n"}))


def test_non_integer_timestamp(make_files):
    with pytest.raises(InputError, match=r"u\.data, line 1: timestamp must be an integer, found '2001-01-01'"):
        movielens.load(small_ml(make_files, **{"u.data": "1\t2\t3\t2001-01-01\n"}))


def test_bad_genre_flag(make_files):
    with pytest.raises(InputError, match=r"u\.item, line 1: genre flag 'Comedy' must be 0 or 1, found 'y'"):
        movielens.load(small_ml(make_files, **{"u.item": "242|T|||u|0|1|y\n"}))


def test_item_line_with_too_few_genres(make_files):
    with pytest.raises(InputError, match=r"u\.item, line 2: expected 8 fields separated by '\|', found 7"):
        movielens.load(small_ml(make_files, **{"u.item": "242|T|||u|0|1|0\n243|T|||u|0|1\n"}))


def test_forced_encoding_reports_bad_bytes(make_files):
    with pytest.raises(InputError, match=r"u\.item, line 1: not valid utf-8"):
        movielens.load(small_ml(make_files), encoding="utf-8")
