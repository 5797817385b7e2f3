"""LightGCN / KGAT line format: real splits, users without items, KGAT's kg_final.txt, bad lines."""

from __future__ import annotations

import pytest

from graphrec.errors import InputError
from loaders import lightgcn
from loaders.records import Interaction, Triple


@pytest.mark.parametrize("name, users, items, splits, listed", [
    ("lightgcn-gowalla", 29_858, 40_981, {"train": 810_128, "test": 217_242}, True),
    ("kgat-amazon-book", 70_679, 24_915, {"train": 652_514, "test": 193_920}, True),
    ("ml-1m-implicit-lightgcnpp", 6_039, 3_628, {"train": 590_733, "valid": 80_897, "test": 164_848}, False),
])
def test_real_counts_match_provenance(real_dataset, name, users, items, splits, listed):
    dataset = lightgcn.load(real_dataset(name))
    summary = dataset.summary()
    assert (summary["users"], summary["items"], summary["interactions"]) == (users, items, splits)
    # user_list.txt / item_list.txt name every user and item (ml-1m ships none)
    labels = [node.label for node in dataset.nodes]
    assert (labels.count("User"), labels.count("Item")) == ((users, items) if listed else (0, 0))


def test_id_lists_keep_original_ids(make_files):
    folder = make_files({"train.txt": "0 0\n", "test.txt": "0 0\n", "user_list.txt": "org_id remap_id\nA3RT 0\n",
                         "item_list.txt": "org_id remap_id freebase_id\n0553092626 0 m.045wq1q\n"})
    nodes = lightgcn.load(folder).nodes
    assert [(n.label, n.id, n.props) for n in nodes] == [
        ("User", "0", {"org_id": "A3RT"}), ("Item", "0", {"org_id": "0553092626", "freebase_id": "m.045wq1q"})]
    assert lightgcn.load(folder, names=False).nodes == []


def test_splits_and_user_without_items(make_files):
    folder = make_files({"train.txt": "0 0 1\n1 2\n", "test.txt": "0 2\n1\n", "valid.txt": "1 0\n"})
    dataset = lightgcn.load(folder)
    assert dataset.interactions == [Interaction("0", "0", split="train"), Interaction("0", "1", split="train"),
                                    Interaction("1", "2", split="train"), Interaction("0", "2", split="test"),
                                    Interaction("1", "0", split="valid")]
    assert dataset.nodes == [] and dataset.triples == []


def test_kg_final_items_below_n_items(make_files):
    folder = make_files({
        "train.txt": "0 0 1\n1 2\n", "test.txt": "0 2\n",
        "kg_final.txt": "0 0 3\n2 1 4\n3 1 1\n",
        "relation_list.txt": "org_id remap_id\nhttp://x/genre 0\nhttp://x/author 1\n",
        "entity_list.txt": "org_id remap_id\nm.a 0\nm.b 1\nm.c 2\nm.d 3\n 4\n",
    })
    dataset = lightgcn.load(folder)
    assert dataset.triples == [Triple("0", "http://x/genre", "3", "Item", "Entity"),
                               Triple("2", "http://x/author", "4", "Item", "Entity"),
                               Triple("3", "http://x/author", "1", "Entity", "Item")]
    assert [(n.label, n.id, n.props) for n in dataset.nodes] == [("Entity", "3", {"org_id": "m.d"}),
                                                                 ("Entity", "4", {"org_id": ""})]
    assert dataset.summary()["relations"] == 2


def test_kg_without_lists_and_kg_off(make_files):
    folder = make_files({"train.txt": "0 0\n", "test.txt": "0 1\n", "kg_final.txt": "1 7 5\n"})
    assert lightgcn.load(folder).triples == [Triple("1", "7", "5", "Item", "Entity")]
    assert lightgcn.load(folder, kg=False).triples == []


def test_non_integer_item(make_files):
    folder = make_files({"train.txt": "0 1 2\n1 3 x4 5\n", "test.txt": "0 3\n"})
    with pytest.raises(InputError, match=r"train\.txt, line 2: every id must be a non-negative integer, found 'x4'"):
        lightgcn.load(folder)


def test_bad_kg_line(make_files):
    folder = make_files({"train.txt": "0 1\n", "test.txt": "0 0\n", "kg_final.txt": "0 1 2\n\n0 1\n"})
    with pytest.raises(InputError, match=r"kg_final\.txt, line 3: expected 3 fields"):
        lightgcn.load(folder)


def test_bad_id_list_row(make_files):
    folder = make_files({"train.txt": "0 1\n", "test.txt": "0 0\n", "item_list.txt": "org_id remap_id\nA 0\nB one\n"})
    with pytest.raises(InputError, match=r"item_list\.txt, line 3: remap_id must be a non-negative integer"):
        lightgcn.load(folder)


def test_missing_test_file(make_files):
    with pytest.raises(InputError, match=r"test\.txt: file not found"):
        lightgcn.load(make_files({"train.txt": "0 1\n"}))


def test_empty_train_file(make_files):
    with pytest.raises(InputError, match=r"train\.txt: the file is empty"):
        lightgcn.load(make_files({"train.txt": "\n", "test.txt": "0 1\n"}))


def test_path_must_be_a_folder(tmp_path):
    with pytest.raises(InputError, match="expected a dataset folder"):
        lightgcn.load(tmp_path / "train.txt")
