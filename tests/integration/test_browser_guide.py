"""Every query of the Neo4j Browser guide and favourites runs against the database (Neo4j Browser itself cannot
run here): the sample graph, a published run, the guide's own :params."""

from __future__ import annotations

import html
import json
import re

import torch

from graphrec.export import export
from graphrec.ingest import ingest
from graphrec.publish import publish
from graphrec.runs import save_run
from graphrec.sample import write_sample
from tests.conftest import REPO_ROOT

import loaders

BROWSER = REPO_ROOT / "cypher" / "browser"


def _value(text: str):
    """A Browser :param value or :params map (Cypher literal syntax) as Python."""
    return json.loads(re.sub(r"([{,]\s*)([A-Za-z_]+)\s*:", r'\1"\2":', text))


def _run_blocks(graph, blocks: list[str], params: dict, where: str) -> dict[str, list]:
    results = {}
    for block in (part for b in blocks for part in re.split(r";\s*\n", b)):  # Browser runs `;` lines in turn
        if block.startswith(":params"):
            params.clear()
            params.update(_value(block[len(":params"):].strip()))
        elif block.startswith(":param"):
            name, value = block[len(":param"):].split("=>", 1)
            params[name.strip()] = _value(value.strip())
        else:
            assert not block.startswith(":"), (where, block)
            results[block] = graph.query(block, dict(params), write=block.lstrip().startswith("MATCH (target"),
                                         what=f"{where}: {block[:60]}")
    return results


def test_every_guide_and_favourite_query_runs(graph, tmp_path):
    ingest(graph, loaders.load("csv", write_sample(tmp_path / "s", n_users=120, n_items=90, seed=7)))
    _, maps = export(graph)
    gen = torch.Generator().manual_seed(0)
    run = save_run(tmp_path / "runs", {"id": "guide-run", "model": "random"}, maps,
                   {"user": torch.randn(len(maps.ids["user"]), 8, generator=gen),
                    "item": torch.randn(len(maps.ids["item"]), 8, generator=gen)})
    publish(graph, run)

    text = (BROWSER / "guide.html").read_text()
    blocks = [html.unescape(b) for b in re.findall(r"<pre[^>]*runnable[^>]*>(.*?)</pre>", text, re.S)]
    assert len(blocks) >= 15
    params: dict = {}
    results = _run_blocks(graph, blocks, params, "guide.html")
    by_statement = dict(re.findall(r'data-statement="([a-z_.]+)">(.*?)</pre>', text, re.S))
    for name in ("recommend.for_user_index", "recommend.for_user", "recommend.similar_items", "explain.why",
                 "explain.paths"):
        assert results[html.unescape(by_statement[name])], f"{name} returned no rows for the guide's parameters"

    params = {}
    for path in sorted((BROWSER / "favorites").glob("*.cypher")):
        body = "\n".join(ln for ln in path.read_text().splitlines() if not ln.startswith("//")).strip()
        _run_blocks(graph, [body], params, path.name)
    assert params["user"] == "u0001"
    params["run"] = run.id  # the switching favourite, for real
    _run_blocks(graph, [(BROWSER / "favorites" / "09_serve_run.cypher").read_text().split("\n", 1)[1]], params, "09")
    assert graph.read("publish.runs")[0]["serving"]
