import pytest

from graphrec.db import cypher, names
from graphrec.errors import ConfigError

HOSTILE = [
    "x]->() DETACH DELETE n //",
    "`) MATCH (n) DETACH DELETE n //",
    "'; DROP CONSTRAINT graphrec_user_id",
    "film.film.genre",
    "123",
    "",
    "ünïcødé relation",
    "INTERACTED",
    "follows",
    "a" * 300,
]


@pytest.mark.parametrize("relation", HOSTILE)
def test_relationship_types_are_always_safe_identifiers(relation):
    rel_type = names.relationship_type(relation)
    assert names.IDENTIFIER.match(rel_type), rel_type
    assert rel_type not in names.RESERVED_TYPES


def test_sanitiser_is_readable_for_ordinary_names():
    assert names.relationship_type("film.film.genre") == "FILM_FILM_GENRE"
    assert names.relationship_type("has_genre") == "HAS_GENRE"
    assert names.relationship_type("INTERACTED") == "KG_INTERACTED"


def test_long_names_stay_distinct():
    assert names.relationship_type("a" * 300) != names.relationship_type("a" * 299 + "b")


def test_node_labels_come_from_the_allow_list():
    assert names.node_label("Item") == "Item"
    with pytest.raises(ConfigError):
        names.node_label("Item) DETACH DELETE (n")


def test_extra_labels_cannot_take_graphrecs_own():
    assert names.extra_label("music genre") == "Music_genre"
    with pytest.raises(ConfigError):
        names.extra_label("ModelRun")


def test_render_fills_slots_only_with_checked_identifiers():
    text = "MATCH (n:{{label}}) RETURN n"
    assert cypher.render(text, label="User") == "MATCH (n:User) RETURN n"
    with pytest.raises(ConfigError):
        cypher.render(text, label="User) DETACH DELETE n //")
    with pytest.raises(ValueError):
        cypher.render(text)
    with pytest.raises(ValueError):
        cypher.render(text, label="User", other="X")
