"""The graph mapping: parsing and checking names, the Cypher it renders, and the export helpers it relies on
(filters, merged interaction types, the leakage-free time split)."""

from __future__ import annotations

import numpy as np
import pytest

from graphrec.config import load_settings
from graphrec.db import cypher
from graphrec.errors import ConfigError
from graphrec.export import _merge_pairs, _split_by_time, _timestamp
from graphrec.mapping import DEFAULT, Filter, GraphMapping, Interaction, from_spec


def test_the_default_mapping_renders_graphrecs_own_statements():
    text = cypher.render("MATCH (u:{{user}})-[:{{interactions}}]->(i:{{item}})-[:{{kg}}]-(), (u)-[:{{social}}]->() "
                         "WHERE {{user_key:u}} = $user RETURN {{item_key:i}}", **DEFAULT.slots())
    assert text == ("MATCH (u:User)-[:INTERACTED]->(i:Item)-[:!INTERACTED&!FOLLOWS]-(), (u)-[:FOLLOWS]->() "
                    "WHERE u.id = $user RETURN i.id")


def test_a_mapping_renders_its_labels_types_and_keys():
    mapping = GraphMapping(user_label="Customer", user_id="elementId", item_label="Product", item_id="sku",
                           interactions=(Interaction("VIEWED"), Interaction("PURCHASED")), kg=(), social=())
    text = cypher.render("MATCH (u:{{user}})-[:{{interactions}}]->(i:{{item}})-[:{{kg}}]-()-[:{{social}}]-() "
                         "WHERE {{user_key:u}} = $user RETURN {{item_key:i}}", **mapping.slots())
    assert text == ("MATCH (u:Customer)-[:VIEWED|PURCHASED]->(i:Product)-[:GRAPHREC_NO_TYPE]-()-[:GRAPHREC_NO_TYPE]-() "
                    "WHERE elementId(u) = $user RETURN i.sku")


@pytest.mark.parametrize("spec, match", [
    (dict(user_label="User`) DETACH DELETE n //"), "user label"),
    (dict(item_id="sku name"), "item id property"),
    (dict(interactions=("PURCHASED,weight=qty;DROP",)), "weight property"),
    (dict(interactions=("PURCHASED,colour=red",)), "colour=red"),
    (dict(interactions=("PURCHASED,weight=-1",)), "positive number"),
    (dict(interactions=("PURCHASED,where=rating ~ 4",)), "PROPERTY OP VALUE"),
    (dict(kg=["IN_CATEGORY", "PURCHASED"], interactions=("PURCHASED",)), "both an interaction type and a kg"),
    (dict(user_label="Thing", item_label="Thing"), "cannot share"),
    (dict(kg_hops=9), "kg_hops"),
    (dict(colour="red"), "unknown mapping key"),
])
def test_bad_mappings_are_refused_with_the_name(spec, match):
    with pytest.raises(ConfigError, match=match):
        from_spec(spec)


def test_interactions_parse_from_the_cli_form_and_the_config_form():
    cli = Interaction.parse("RATED, weight=rating, ts=timestamp, where=rating >= 4")
    config = Interaction.of({"type": "RATED", "weight": "rating", "timestamp": "timestamp", "where": "rating >= 4"})
    assert cli == config and cli.where == Filter("rating", ">=", 4)
    assert Interaction.parse("PURCHASED,weight=3").weight == 3.0
    assert Interaction.parse("VIEWED,where=kind = 'page'").where == Filter("kind", "=", "page")


def test_filters_keep_what_they_say_and_drop_missing_or_incomparable_values():
    f = Filter.parse("rating >= 4")
    assert [f.keeps(v) for v in (5, 4, 3.5, None, "five")] == [True, True, False, False, False]
    assert Filter.parse("kind <> 'view'").keeps("buy") and not Filter.parse("kind <> 'view'").keeps("view")


def test_the_mapping_round_trips_through_a_config_file(tmp_path):
    mapping = GraphMapping(user_label="Customer", user_id="customerNo", item_label="Product", item_id="sku",
                           interactions=(Interaction("PURCHASED", 3.0, "at", where=Filter("qty", ">", 0)),
                                         Interaction("VIEWED", 1.0, "at")),
                           kg=("IN_CATEGORY",), kg_hops=2, social=("FRIENDS_WITH",), social_directed=False)
    (tmp_path / "config.toml").write_text('[graphrec]\nbolt_port = 7700\n\n' + mapping.toml())
    settings = load_settings(home=str(tmp_path), environ={})
    assert settings.mapping == mapping and settings.bolt_port == 7700
    flagged = load_settings(home=str(tmp_path), environ={}, mapping={"item_label": "Article", "kg": ()})
    assert flagged.mapping.item_label == "Article" and flagged.mapping.user_label == "Customer"
    assert flagged.origin["mapping"] == "flag"
    assert load_settings(home=str(tmp_path / "none"), environ={}).mapping.is_default


def test_keys_travel_as_text_and_reach_the_graph_typed():
    mapping = GraphMapping(user_id="userNo", key_types=(("user", "integer"), ("item", "string")))
    assert mapping.key("user", "42") == 42 and mapping.key("item", "42") == "42"
    assert mapping.key("user", "x") == "x" and mapping.key("user", None) is None


def test_several_interaction_types_on_one_pair_become_one_edge():
    users, items = np.array([0, 0, 0, 1]), np.array([3, 3, 5, 3])
    splits = np.array([-1, -1, -1, -1], dtype=np.int8)
    weights = np.array([1.0, 3.0, np.nan, 2.0], dtype=np.float32)
    stamps = np.array([50, 20, -1, 7])
    u, i, _, w, ts = _merge_pairs(users, items, splits, weights, stamps)
    assert u.tolist() == [0, 0, 1] and i.tolist() == [3, 5, 3]
    assert w[0] == 4.0 and np.isnan(w[1]) and w[2] == 2.0
    assert ts.tolist() == [20, -1, 7]


def test_the_time_split_has_one_cut_off_for_everyone():
    rng = np.random.default_rng(1)
    ts = rng.permutation(1000)
    codes = _split_by_time(ts, (0.8, 0.1, 0.1))
    assert (codes == 0).sum() == 800 and (codes == 1).sum() == 100 and (codes == 2).sum() == 100
    assert ts[codes == 0].max() < ts[codes == 1].min() and ts[codes == 1].max() < ts[codes == 2].min()


def test_timestamps_from_numbers_and_neo4j_date_times():
    from neo4j.time import Date, DateTime

    assert _timestamp(None, "x") == -1 and _timestamp(12.7, "x") == 12
    assert _timestamp(DateTime(1970, 1, 2, 0, 0, 0), "x") == 86400
    assert _timestamp(Date(1970, 1, 3), "x") == 2 * 86400
    with pytest.raises(Exception, match="RATED of user 1"):
        _timestamp("yesterday", "RATED of user 1")
