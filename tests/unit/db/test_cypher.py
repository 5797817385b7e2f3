import re

import pytest

from graphrec.db import cypher
from graphrec.errors import NotFoundError


def test_parse_names_and_docs():
    text = "// file doc\n// name: a\n// what a does\nRETURN 1;\n\n// name: b\nRETURN 3\n"
    found = cypher.parse(text, "f")
    assert found == {"f.a": "// what a does\nRETURN 1", "f.b": "RETURN 3"}


def test_parse_rejects_duplicates_and_empty_statements():
    with pytest.raises(ValueError, match="defined twice"):
        cypher.parse("// name: a\nRETURN 1\n// name: a\nRETURN 2\n", "f")
    with pytest.raises(ValueError, match="is empty"):
        cypher.parse("// name: a\n// only a comment\n// name: b\nRETURN 1\n", "f")


def test_every_shipped_statement_loads():
    names = cypher.names()
    assert "schema.user_id_unique" in names and "db.ping" in names
    for name in names:
        assert cypher.statement(name).strip()


def test_statements_take_values_only_as_parameters():
    """No Python-format holes or string concatenation in shipped Cypher: values arrive as $parameters."""
    for name in cypher.names():
        text = "\n".join(ln for ln in cypher.statement(name).splitlines() if not ln.strip().startswith("//"))
        text = re.sub(r"\{\{[a-z_]+\}\}", "", text)  # identifier slots, filled only from the allow-list
        assert not re.search(r"\{\s*\}|%s|\{[a-z_]+\}", text), name
        assert "+ '" not in text and "' +" not in text, name


def test_unknown_statement_lists_the_file_choices():
    with pytest.raises(NotFoundError, match="schema.user_id_unique"):
        cypher.statement("schema.nope")


def test_schema_group_is_in_file_order():
    texts = cypher.group("schema")
    assert len(texts) >= 3 and "User" in texts[0]
