"""The offline first load's CSV files and when it may run, without a server (the graph it builds is compared with the
Bolt path's in tests/integration/test_ingest_offline.py)."""

from __future__ import annotations

import pytest

from graphrec.config import load_settings
from graphrec.db import offline_import
from graphrec.db.server import EmbeddedServer
from graphrec.errors import ConfigError, ServerError
from graphrec.firstload import refusal, unfit, write_tables
from graphrec.ingest import IngestReport
from loaders.records import Dataset, Interaction, Node, SocialEdge, Triple


def test_columns_are_typed_strings_quoted_and_a_missing_value_left_empty(tmp_path):
    dataset = Dataset("d", interactions=[Interaction("u1", "i1", split="train"), Interaction("u1", "i2", 2.0, 7),
                                         Interaction("u1", "i1", split="train")],
                      triples=[Triple("i1", "made by", "e1", "Item")], social=[SocialEdge("u1", "u2", 0.5)],
                      nodes=[Node("Item", "i1", {"title": 'A "quoted", title', "year": 1999}, ("Film",)),
                             Node("Item", "i2", {"title": "", "year": 2001.5})], format="csv")
    report = IngestReport("d", method="offline")
    tables = write_tables(dataset, tmp_path / "csv", report)
    files = sorted(path.read_text(encoding="utf-8") for path in tables.nodes + [p for _, p in tables.relationships])
    assert sorted(files) == sorted([
        'id:ID(User),:LABEL,graphrec_source:string\n"u1","User","csv:d"\n"u2","User","csv:d"\n',
        # one type a column: the two years go to two files
        'id:ID(Item),:LABEL,graphrec_source:string,title:string,year:long\n"i1","Item;Film","csv:d","A ""quoted"", '
        'title",1999\n',
        'id:ID(Item),:LABEL,graphrec_source:string,title:string,year:double\n"i2","Item","csv:d","",2001.5\n',
        'id:ID(Entity),:LABEL,graphrec_source:string\n"e1","Entity","csv:d"\n',
        files[[f.startswith(":LABEL,key:string") for f in files].index(True)],   # the GraphrecSource, below
        # the repeated row once; no split, weight or timestamp: an empty field
        ':START_ID(User),:END_ID(Item),split:string,weight:double,ts:long\n"u1","i1","train",,\n"u1","i2",,2.0,7\n',
        ':START_ID(Item),:END_ID(Entity),relation:string\n"i1","e1","made by"\n',
        ':START_ID(User),:END_ID(User),weight:double\n"u1","u2",0.5\n'])
    assert any(f.startswith(':LABEL,key:string,format:string,name:string,path:string,merged:boolean,'
                            'status:string,started_at:string\n"GraphrecSource","csv:d","csv","d","",false,"ingesting",')
               for f in files)
    assert sorted(t for t, _ in tables.relationships) == ["FOLLOWS", "INTERACTED", "MADE_BY"]
    assert not tables.multiline
    assert report.created == {"User": 2, "Item": 2, "Entity": 1, "interactions": 2, "triples": 1, "social": 1}
    assert report.duplicates == 1 and report.conflicts == 0


def test_a_newline_in_a_value_asks_the_importer_for_multiline_fields(tmp_path):
    dataset = Dataset("d", interactions=[Interaction("u1", "i1")], nodes=[Node("Item", "i1", {"title": "a\nb"})])
    assert write_tables(dataset, tmp_path / "csv", IngestReport("d")).multiline


@pytest.mark.parametrize("props, problem", [({"tags": ["a", "b"]}, "list value"), ({"a:b": "x"}, "property name"),
                                            ({"n": 2 ** 70}, "beyond 64 bits"), ({"x": float("nan")}, "not finite")])
def test_values_the_csv_cannot_carry_are_named(props, problem):
    dataset = Dataset("d", interactions=[Interaction("u1", "i1")], nodes=[Node("Item", "i1", props)])
    assert problem in unfit(dataset)


def test_an_unfit_edge_value_stops_the_csv(tmp_path):
    dataset = Dataset("d", interactions=[Interaction("u1", "i1", ts=2 ** 64)])
    with pytest.raises(ConfigError, match="beyond 64 bits"):
        write_tables(dataset, tmp_path / "csv", IngestReport("d"))


def test_a_server_of_the_users_own_is_never_loaded_offline(tmp_path):
    settings = load_settings(home=str(tmp_path), environ={"NEO4J_URI": "bolt://db.example:7687",
                                                              "NEO4J_PASSWORD": "secret"})
    assert "your own" in refusal(settings, Dataset("d", interactions=[Interaction("u1", "i1")]))


def test_one_import_at_a_time_holds_a_home_and_its_staging_folder_goes_afterwards(tmp_path):
    server = EmbeddedServer(tmp_path)
    with offline_import.staged(server) as folder:
        (folder / "half.csv").write_text("x")
        with pytest.raises(ServerError, match="another offline import"):
            with offline_import.staged(server):
                pass
        assert folder.exists()
    assert not folder.exists()
