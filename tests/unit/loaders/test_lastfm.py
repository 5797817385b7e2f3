"""HetRec 2011 Last.fm: listens, friendships, artist names and KGCN's KG mapped back to artists."""

from __future__ import annotations

import pytest

from graphrec.errors import InputError
from loaders import lastfm
from loaders.records import Interaction, SocialEdge, Triple


def small_lastfm(make_files, **replace: str | bytes):
    files = {
        "raw/user_artists.dat": "userID\tartistID\tweight\n2\t51\t13883\n2\t52\t11690\n3\t51\t5\n",
        "raw/user_friends.dat": "userID\tfriendID\n2\t3\n3\t2\n",
        "raw/artists.dat": "id\tname\turl\tpictureURL\n51\tDuran Duran\thttp://a\t\n52\tMoby\thttp://b\thttp://p\n",
        "kgcn_kg/item_index2entity_id.txt": "51\t0\r\n52\t1\r\n",
        "kgcn_kg/kg.txt": "0\tmusic.artist.origin\t2\r\n1\tmusic.artist.genre\t3\r\n0\tmusic.artist.similar\t1\r\n",
    }
    files.update(replace)
    return make_files(files, folder="lastfm")


def test_real_counts_match_provenance(real_dataset):
    dataset = lastfm.load(real_dataset("lastfm-hetrec2011"))
    assert dataset.summary() == {"users": 1_892, "items": 17_632, "interactions": {"none": 92_834},
                                 "triples": 15_518, "relations": 60, "social": 25_434}
    ends = {(t.head, t.head_label) for t in dataset.triples} | {(t.tail, t.tail_label) for t in dataset.triples}
    mapped = {node for node, label in ends if label == "Item"}
    assert (len(ends), len(mapped)) == (9_366, 3_846)
    assert sum(it.item in mapped for it in dataset.interactions) == 21_173
    labels = [node.label for node in dataset.nodes]
    assert (labels.count("Item"), labels.count("Entity")) == (17_632, 9_366 - 3_846)


def test_small_folder(make_files):
    dataset = lastfm.load(small_lastfm(make_files))
    assert dataset.interactions[0] == Interaction("2", "51", weight=13883.0)
    assert dataset.social == [SocialEdge("2", "3"), SocialEdge("3", "2")]
    assert dataset.triples == [Triple("51", "music.artist.origin", "2", "Item", "Entity"),
                               Triple("52", "music.artist.genre", "3", "Item", "Entity"),
                               Triple("51", "music.artist.similar", "52", "Item", "Item")]
    assert [(n.label, n.id, n.props) for n in dataset.nodes] == [
        ("Item", "51", {"name": "Duran Duran", "url": "http://a"}),
        ("Item", "52", {"name": "Moby", "url": "http://b", "picture_url": "http://p"}),
        ("Entity", "2", {}), ("Entity", "3", {})]


def test_parts_can_be_skipped(make_files):
    folder = small_lastfm(make_files, **{"kgcn_kg/kg.txt": "broken", "raw/user_friends.dat": "broken"})
    dataset = lastfm.load(folder, kg=False, social=False, artists=False)
    assert (len(dataset.interactions), dataset.social, dataset.triples, dataset.nodes) == (3, [], [], [])


def test_non_numeric_weight(make_files):
    folder = small_lastfm(make_files, **{"raw/user_artists.dat": "userID\tartistID\tweight\n2\t51\tlots\n"})
    with pytest.raises(InputError, match=r"user_artists\.dat, line 2: weight must be a number, found 'lots'"):
        lastfm.load(folder)


def test_wrong_header(make_files):
    folder = small_lastfm(make_files, **{"raw/user_friends.dat": "user\tfriend\n2\t3\n"})
    with pytest.raises(InputError, match=r"user_friends\.dat, line 1: expected the header"):
        lastfm.load(folder)


def test_artists_not_utf8(make_files):
    folder = small_lastfm(make_files, **{"raw/artists.dat": b"id\tname\turl\tpictureURL\n51\tMot\xf6rhead\tu\tp\n"})
    with pytest.raises(InputError, match=r"artists\.dat, line 2: not valid utf-8"):
        lastfm.load(folder)


def test_kg_line_with_missing_field(make_files):
    folder = small_lastfm(make_files, **{"kgcn_kg/kg.txt": "0\tmusic.artist.origin\t2\r\n1\t3\r\n"})
    with pytest.raises(InputError, match=r"kg\.txt, line 2: expected 3 fields"):
        lastfm.load(folder)


def test_entity_mapped_twice(make_files):
    folder = small_lastfm(make_files, **{"kgcn_kg/item_index2entity_id.txt": "51\t0\r\n52\t0\r\n"})
    with pytest.raises(InputError, match=r"item_index2entity_id\.txt, line 2: entity 0 is mapped to two artists"):
        lastfm.load(folder)


def test_missing_raw_file(make_files):
    folder = make_files({"kgcn_kg/kg.txt": ""}, folder="lastfm")
    with pytest.raises(InputError, match=r"user_artists\.dat: file not found"):
        lastfm.load(folder)
