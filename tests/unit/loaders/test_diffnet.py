"""DiffNet folders: train/val/test rating files and the social links."""

from __future__ import annotations

import pytest

from graphrec.errors import InputError
from loaders import diffnet
from loaders.records import Interaction, SocialEdge


def small_diffnet(make_files, **replace: str):
    files = {"yelp.train.rating": "0\t5\t1\n1\t6\t1\n", "yelp.val.rating": "0\t7\t1\n",
             "yelp.test.rating": "1\t5\t1\n\n", "yelp.links": "0\t1\t1\n1\t0\t1\n"}
    files.update(replace)
    return make_files(files, folder="diffnet")


def test_real_counts_match_provenance(real_dataset):
    dataset = diffnet.load(real_dataset("diffnet-yelp"))
    assert dataset.summary()["interactions"] == {"train": 185_869, "valid": 3_497, "test": 18_579}
    assert (dataset.summary()["users"], len(dataset.social)) == (17_237, 143_765)
    # PROVENANCE's "38,342 item ids" is the 0-based id range; 37,378 of those ids occur
    assert 1 + max(int(it.item) for it in dataset.interactions) == 38_342


def test_small_folder(make_files):
    dataset = diffnet.load(small_diffnet(make_files))
    assert dataset.interactions == [Interaction("0", "5", 1.0, split="train"),
                                    Interaction("1", "6", 1.0, split="train"),
                                    Interaction("0", "7", 1.0, split="valid"), Interaction("1", "5", 1.0, split="test")]
    assert dataset.social == [SocialEdge("0", "1", 1.0), SocialEdge("1", "0", 1.0)]
    assert diffnet.load(small_diffnet(make_files), prefix="yelp", social=False).social == []


def test_space_instead_of_tab(make_files):
    with pytest.raises(InputError, match=r"yelp\.val\.rating, line 1: expected 3 fields separated by '\\t'"):
        diffnet.load(small_diffnet(make_files, **{"yelp.val.rating": "0 7 1\n"}))


def test_non_integer_user(make_files):
    with pytest.raises(InputError, match=r"yelp\.links, line 2: friend id must be a non-negative integer"):
        diffnet.load(small_diffnet(make_files, **{"yelp.links": "0\t1\t1\n1\tu0\t1\n"}))


def test_missing_split_file(make_files):
    folder = small_diffnet(make_files)
    (folder / "yelp.test.rating").unlink()
    with pytest.raises(InputError, match=r"yelp\.test\.rating: file not found"):
        diffnet.load(folder)


def test_prefix_must_be_unambiguous(make_files):
    with pytest.raises(InputError, match=r"expected exactly one \*\.train\.rating file"):
        diffnet.load(small_diffnet(make_files, **{"flickr.train.rating": "0\t1\t1\n"}))
