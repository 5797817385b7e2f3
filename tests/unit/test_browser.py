"""The Neo4j Browser files under cypher/browser/: generated from the statements and current, a well-formed style
sheet, and a guide that renders (headless Chromium, where installed)."""

from __future__ import annotations

import html
import importlib.util
import re
import shutil
import subprocess

import pytest

from tests.conftest import REPO_ROOT

BROWSER = REPO_ROOT / "cypher" / "browser"


def _builder():
    from graphrec import guide

    return guide


def test_guide_and_favourites_are_current():
    builder = _builder()
    assert (BROWSER / "guide.html").read_text() == builder.guide(), "run python scripts/build_browser_guide.py"
    for name, text in builder.favorites().items():
        assert (BROWSER / "favorites" / name).read_text() == text, name


def test_guide_blocks_are_the_shipped_statements():
    from graphrec.db import cypher

    text = (BROWSER / "guide.html").read_text()
    blocks = re.findall(r'<pre mode="cypher" class="pre-scrollable code runnable" data-statement="([a-z_.]+)">(.*?)</pre>',
                        text, re.S)
    assert {name for name, _ in blocks} >= {"recommend.for_user_index", "recommend.for_user", "recommend.similar_items",
                                            "explain.why", "explain.paths"}
    from graphrec.guide import body

    for name, block in blocks:
        assert html.unescape(block) == body(name), name
        assert "{{" not in block, name


def test_style_sheet_is_well_formed_and_covers_the_model():
    text = (BROWSER / "style.grass").read_text()
    rule = r"([A-Za-z_.]+)\s*\{((?:[^{}]|\{[a-z_]+\})*)\}"  # captions hold {property} inside a rule
    rules = re.findall(rule, text)
    assert re.sub(rule, "", text).strip() == "", "text outside rules"
    selectors = {sel for sel, _ in rules}
    assert {"node", "relationship", "node.User", "node.Item", "node.Entity", "node.ModelRun",
            "relationship.INTERACTED", "relationship.FOLLOWS"} <= selectors
    for sel, props in rules:
        for decl in filter(None, (d.strip() for d in props.split(";"))):
            assert re.fullmatch(r"[a-z-]+:\s*(#[0-9A-Fa-f]{6}|\d+px|\"[^\"]*\")", decl), (sel, decl)


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no chromium (apt-get install chromium)")
def test_guide_renders_in_headless_chromium(tmp_path):
    page = tmp_path / "guide.html"
    page.write_text("<!doctype html><html><head><meta charset='utf-8'></head><body>"
                    + (BROWSER / "guide.html").read_text() + "</body></html>")
    shot = tmp_path / "guide.png"
    flags = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             f"--user-data-dir={tmp_path / 'profile'}"]
    subprocess.run([*flags, f"--screenshot={shot}", "--window-size=1200,3000", page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    dom = subprocess.run([*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120,
                         check=True).stdout
    assert dom.count("<slide") == len(_builder().slides()) and "recommend" in dom


def test_a_mapped_graph_gets_a_guide_in_its_own_labels(tmp_path):
    from graphrec.guide import write
    from graphrec.mapping import GraphMapping, Interaction

    mapping = GraphMapping(user_label="Customer", user_id="customerNo", item_label="Product", item_id="sku",
                           interactions=(Interaction("PURCHASED"), Interaction("VIEWED")), kg=("IN_CATEGORY",),
                           social=("FRIENDS_WITH",), social_directed=False)
    folder = write(tmp_path / "browser", mapping, {"user": "7", "item": "p1", "items": ["p1"]})
    text = (folder / "guide.html").read_text() + "".join(p.read_text() for p in (folder / "favorites").iterdir())
    assert "u.customerNo = $user" in text and "PURCHASED|VIEWED" in text and "FRIENDS_WITH" in text
    for own in (":User", ":Item", ":Entity", "INTERACTED", "FOLLOWS", "{{"):
        assert own not in text, own
    assert "directed: false" in text
    style = (folder / "style.grass").read_text()
    assert "node.Customer" in style and "relationship.PURCHASED" in style and "node.User " not in style
