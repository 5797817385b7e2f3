"""The generic CSV/TSV loader: the sample-graph folder layout, column mapping, and every kind of bad cell."""

from __future__ import annotations

import pytest

from graphrec.errors import ConfigError, InputError
from loaders import csv_files
from loaders.records import Interaction, SocialEdge, Triple

FOLDER = {
    "interactions.csv": "user,item,weight,ts,split\nu1,i1,1.5,100,train\nu1,i2,,,test\r\nu2,i1,2,,\n\n",
    "kg.csv": "head,relation,tail,head_label\ni1,HAS_GENRE,g1,Item\ng1,SUBGENRE_OF,g2,Entity\n",
    "social.csv": "src,dst\nu1,u2\nu2,u1\n",
    "items.csv": "id,title,year\ni1,\"Heat, the movie\",1995\ni2,Up,\n",
    "users.csv": "id,age\nu1,30\n",
    "entities.csv": "id,labels,name\ng1,Genre,Action\ng2,Genre;Top,Any\n",
}


def test_folder_layout(make_files):
    dataset = csv_files.load(make_files(FOLDER))
    assert dataset.interactions == [Interaction("u1", "i1", 1.5, 100, "train"), Interaction("u1", "i2", split="test"),
                                    Interaction("u2", "i1", 2.0)]
    assert dataset.triples == [Triple("i1", "HAS_GENRE", "g1", "Item", "Entity"),
                               Triple("g1", "SUBGENRE_OF", "g2", "Entity", "Entity")]
    assert dataset.social == [SocialEdge("u1", "u2"), SocialEdge("u2", "u1")]
    assert [(n.label, n.id, n.props, n.extra_labels) for n in dataset.nodes] == [
        ("Item", "i1", {"title": "Heat, the movie", "year": "1995"}, ()), ("Item", "i2", {"title": "Up"}, ()),
        ("User", "u1", {"age": "30"}, ()),
        ("Entity", "g1", {"name": "Action"}, ("Genre",)), ("Entity", "g2", {"name": "Any"}, ("Genre", "Top"))]
    assert len(dataset.sources) == 6


def test_only_interactions_in_folder(make_files):
    dataset = csv_files.load(make_files({"interactions.csv": "user,item\n1,2\n"}))
    assert dataset.interactions == [Interaction("1", "2")]
    assert (dataset.triples, dataset.social, dataset.nodes) == ([], [], [])


def test_single_file_with_column_mapping(make_files):
    folder = make_files({"ratings.tsv": "uid\tmovie\tstars\twhen\tfold\n7\t9\t4\t12\tvalid\n",
                         "friends.tsv": "a\tb\n7\t8\n", "facts.tsv": "s\tp\to\n9\tBY\tx\n"})
    dataset = csv_files.load(folder / "ratings.tsv", user_col="uid", item_col="movie", weight_col="stars",
                             ts_col="when", split_col="fold", social="friends.tsv", src_col="a", dst_col="b",
                             kg="facts.tsv", head_col="s", relation_col="p", tail_col="o")
    assert dataset.interactions == [Interaction("7", "9", 4.0, 12, "valid")]
    assert dataset.social == [SocialEdge("7", "8")]
    assert dataset.triples == [Triple("9", "BY", "x", "Item", "Entity")]


def test_semicolon_delimiter(make_files):
    folder = make_files({"interactions.csv": "user;item\n1;2\n"})
    assert csv_files.load(folder, delimiter=";").interactions == [Interaction("1", "2")]


def test_unknown_column_lists_the_header(make_files):
    folder = make_files({"interactions.csv": "userId,item\n1,2\n"})
    with pytest.raises(InputError, match=r"interactions\.csv, line 1: no column 'user'; "
                                         r"the header's columns are \['userId', 'item'\]"):
        csv_files.load(folder)


def test_named_optional_column_must_exist(make_files):
    folder = make_files({"interactions.csv": "user,item\n1,2\n"})
    with pytest.raises(InputError, match=r"interactions\.csv, line 1: no column 'rating'"):
        csv_files.load(folder, weight_col="rating")


def test_unknown_split(make_files):
    folder = make_files({"interactions.csv": "user,item,split\n1,2,train\n1,3,holdout\n"})
    with pytest.raises(InputError, match=r"interactions\.csv, line 3: unknown split 'holdout'; "
                                         r"expected one of \['train', 'valid', 'test'\] \(or training, trn, val"):
        csv_files.load(folder)


def test_common_split_spellings_are_read_as_graphrecs(make_files):
    folder = make_files({"interactions.csv": "user,item,split\n1,2,Train\n1,3,val\n1,4,validation\n1,5,dev\n"
                                             "1,6,TEST\n1,7,testing\n1,8,\n"})
    splits = [it.split for it in csv_files.load(folder).interactions]
    assert splits == ["train", "valid", "valid", "valid", "test", "test", None]


@pytest.mark.parametrize("column, value, problem", [("weight", "high", "weight must be a number"),
                                                     ("ts", "2024-01-01", "ts must be an integer")])
def test_non_numeric_cells(make_files, column, value, problem):
    folder = make_files({"interactions.csv": f"user,item,{column}\n1,2,3\n\n1,3,{value}\n"})
    with pytest.raises(InputError, match=rf"interactions\.csv, line 4: {problem}, found '{value}'"):
        csv_files.load(folder)


def test_wrong_field_count(make_files):
    folder = make_files({"interactions.csv": "user,item\n1,2\n1,2,3\n"})
    with pytest.raises(InputError, match=r"interactions\.csv, line 3: expected 2 fields separated by ','"):
        csv_files.load(folder)


def test_empty_id(make_files):
    folder = make_files({"interactions.csv": "user,item\n1,2\n ,2\n"})
    with pytest.raises(InputError, match=r"interactions\.csv, line 3: empty 'user'"):
        csv_files.load(folder)


def test_invalid_utf8(make_files):
    folder = make_files({"interactions.csv": "user,item\n1,2\n", "items.csv": b"id,title\n2,Caf\xe9\n"})
    with pytest.raises(InputError, match=r"items\.csv, line 2: not valid utf-8"):
        csv_files.load(folder)


def test_latin1_on_request(make_files):
    folder = make_files({"interactions.csv": b"user,item\nJos\xe9,2\n"})
    assert csv_files.load(folder, encoding="latin-1").interactions == [Interaction("José", "2")]


def test_malformed_quotes(make_files):
    folder = make_files({"interactions.csv": 'user,item\n1,2\n1,"bad"x\n'})
    with pytest.raises(InputError, match=r"interactions\.csv, line 3: malformed CSV"):
        csv_files.load(folder)


def test_bad_kg_label(make_files):
    folder = make_files({"interactions.csv": "user,item\n1,2\n",
                         "kg.csv": "head,relation,tail,head_label\n2,R,3,User\n"})
    with pytest.raises(InputError, match=r"kg\.csv, line 2: 'head_label' must be one of \['Item', 'Entity'\]"):
        csv_files.load(folder)


@pytest.mark.parametrize("content, problem", [("", "the file is empty"),
                                              ("user,item\n\n", "the file holds a header but no data")])
def test_empty_files(make_files, content, problem):
    with pytest.raises(InputError, match=rf"interactions\.csv: {problem}"):
        csv_files.load(make_files({"interactions.csv": content}))


def test_repeated_column_name(make_files):
    with pytest.raises(InputError, match=r"line 1: repeated column name at position 3"):
        csv_files.load(make_files({"interactions.csv": "user,item,user\n1,2,3\n"}))


def test_explicit_file_must_exist(make_files):
    folder = make_files({"interactions.csv": "user,item\n1,2\n"})
    with pytest.raises(InputError, match=r"friends\.csv: file not found"):
        csv_files.load(folder, social="friends.csv")


def test_missing_interactions(make_files):
    with pytest.raises(InputError, match=r"interactions\.csv: file not found"):
        csv_files.load(make_files({"kg.csv": "head,relation,tail\n1,R,2\n"}))


# KGAT-style: items 0 and 1 are also entities 0 and 1; entity 5 is a genre; 7 heads a fact and is no item
SHARED_IDS = {"interactions.csv": "user,item\nu1,0\nu2,1\n",
              "kg.csv": "head,relation,tail\n0,genre,5\n1,genre,5\n7,similar,0\n0,sequel,1\n"}


def test_a_kg_numbered_in_one_space_with_the_items_is_reported_with_the_fix(make_files):
    dataset = csv_files.load(make_files(SHARED_IDS))
    # 7 became an item nobody interacted with; the tails 0 and 1 became entities beside items 0 and 1
    assert dataset.kg_id_collisions() == {"phantom_items": 1, "entity_item_ids": 2}
    shared = csv_files.load(make_files(SHARED_IDS), kg_ids="shared")
    assert shared.kg_id_collisions() is None
    assert shared.triples == [Triple("0", "genre", "5", "Item", "Entity"), Triple("1", "genre", "5", "Item", "Entity"),
                              Triple("7", "similar", "0", "Entity", "Item"), Triple("0", "sequel", "1", "Item", "Item")]
    assert csv_files.load(make_files(FOLDER)).kg_id_collisions() is None  # labelled apart: nothing to report
    with pytest.raises(ConfigError, match="kg_ids must be 'apart' or 'shared', got 'one'"):
        csv_files.load(make_files(SHARED_IDS), kg_ids="one")
