"""The Neo4j Browser guide and favourites, generated from the very statements graphrec runs, for a graph mapping.

``cypher/browser/`` ships them for graphrec's own schema (``python scripts/build_browser_guide.py`` writes them;
tests/unit/test_browser.py fails when they are out of date). ``graphrec browser`` on a graph in the user's own shape
writes them for its mapping (their labels, keys and relationship types) into the home and serves those.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from graphrec.db import cypher
from graphrec.mapping import DEFAULT, GraphMapping

# The parameters every query below uses; ids from the sample graph (`graphrec demo`). Change them in the first slide.
# Browser evaluates a `:params {...}` map as JavaScript, so its numbers arrive as floats and `LIMIT $k` refuses 10.0;
# `:param NAME => VALUE` has the server evaluate the value, so the counts stay integers. Browser runs the lines in turn.
SAMPLE_IDS = {"user": "u0001", "item": "i0001", "items": ["i0001", "i0002"]}


def params(ids: dict, mapping: GraphMapping = DEFAULT) -> str:
    """The parameter lines of the first slide, with example ids (the sample graph's, or the user's own graph's) as
    the graph stores them (an integer key gets numbers)."""
    user, item = json.dumps(mapping.key("user", ids["user"])), json.dumps(mapping.key("item", ids["item"]))
    items = json.dumps([mapping.key("item", i) for i in ids["items"]])
    return (f':params {{user: {user}, item: {item}, run: null, seen_splits: null, entities: null, exclude: null, '
            f'items: {items}, directed: {str(mapping.social_directed).lower()}}};\n:param k => 10;\n'
            ':param fetch => 200;\n:param limit => 5')


PARAMS = ":params"  # the first slide's parameter block, filled per graph by guide()


def body(name: str, mapping: GraphMapping = DEFAULT) -> str:
    """A statement without its header comments, its slots filled for ``mapping``: what a Browser user runs."""
    lines = mapping.render(cypher.statement(name)).splitlines()
    while lines and lines[0].lstrip().startswith("//"):
        lines.pop(0)
    return "\n".join(lines)


# publish.switch with the time taken from the server, since a Browser user has no $now to pass.
SWITCH = ("MATCH (target:ModelRun {id: $run})\nWHERE target.status = 'ready'\n"
          "SET target.switched_at = toString(datetime())\nWITH target\nMATCH (r:ModelRun)\n"
          "SET r.serving = (r.id = target.id)\nRETURN target.id AS serving, count(r) AS runs")



def slides(mapping: GraphMapping = DEFAULT) -> list:
    """(title, paragraphs of HTML, [(label, statement name or literal Cypher)]) per slide."""
    user, item = html.escape(mapping.user_label), html.escape(mapping.item_label)
    own = mapping.is_default
    graph_text = ("Users <code>(:User)</code> interact with items <code>(:Item)</code>; items link to knowledge-graph "
                  "entities <code>(:Entity)</code> (genres, creators ...) by typed relationships that keep the source "
                  "name in <code>relation</code>; users follow users." if own else
                  f"graphrec reads this graph through its mapping: users are <code>(:{user})</code>, items "
                  f"<code>(:{item})</code>, interactions <code>{html.escape('|'.join(mapping.interaction_types))}"
                  f"</code>, the knowledge graph <code>{html.escape('|'.join(mapping.kg_types)) or 'none'}</code>, "
                  f"social ties <code>{html.escape('|'.join(mapping.social)) or 'none'}</code>.")
    lookup = mapping.render("MATCH (u:{{user}}) RETURN {{user_key:u}} AS id LIMIT 5")
    return [
        ("graphrec in Neo4j Browser",
         ["This guide walks through the graph graphrec reads, the model runs written back onto it, and the Cypher "
          "queries that serve recommendations. Load the style sheet first (<code>:style URL</code> as printed by "
          "<code>graphrec browser</code>) so users, items and relationship types are easy to tell apart.",
          "Every query takes its values as parameters. Run this to set them (edit the ids for your graph: "
          f"<code>graphrec cypher '{html.escape(lookup)}'</code> lists a few):"],
         [("set the parameters", PARAMS)]),
        ("The graph", [graph_text, "How many of each:"],
         [("nodes per label", "MATCH (n) RETURN labels(n) AS labels, count(*) AS nodes ORDER BY nodes DESC"),
          ("one user's neighbourhood", mapping.render(
              "MATCH p = (u:{{user}})-[:{{interactions}}]->(:{{item}})-[:{{kg}}]-()\nWHERE {{user_key:u}} = $user\n"
              "RETURN p LIMIT 25")),
          ("one user's friends and what they interacted with", mapping.render(
              "MATCH p = (u:{{user}})-[:{{social}}]-(:{{user}})-[:{{interactions}}]->(:{{item}})\n"
              "WHERE {{user_key:u}} = $user\nRETURN p LIMIT 25"))]),
        ("Model runs",
         ["<code>graphrec publish RUN</code> writes a trained run's embeddings onto the nodes "
          "(<code>graphrec_emb_&lt;run&gt;</code> on users and items, <code>graphrec_mips_&lt;run&gt;</code> on items; "
          "no property of your own is touched) with a <code>(:ModelRun)</code> node holding its model, "
          "hyper-parameters, metrics and the names of those properties. Exactly one run has <code>serving: true</code>; "
          "every query below reads its property names from it."],
         [("the published runs", "MATCH (r:ModelRun)\nRETURN r.id AS run, r.model AS model, r.serving AS serving, "
                                 "r.metrics AS metrics, r.published_at AS published\nORDER BY r.created_at")]),
        ("Recommendations: the index path",
         ["The served run's vector index proposes <code>$fetch</code> candidates, the items the user already interacted "
          "with are dropped by a graph pattern, and the rest are re-ranked by the model's exact score (the inner "
          "product user · item). This is what <code>graphrec recommend</code> runs."],
         [("recommend.for_user_index", "recommend.for_user_index")]),
        ("Recommendations: the exact path",
         ["Every item scored: slower on a large catalogue, but exactly the model's ranking."],
         [("recommend.for_user", "recommend.for_user")]),
        ("Filters in the graph",
         ["Only items linked to a KG entity (by id or name), and never some items. Set the filter, rerun the exact "
          "path above, then clear it:"],
         [("filter on a genre", ':param entities => ["Rock"]'),
          ("exclude items", ':param exclude => ["i0002", "i0003"]'),
          ("clear the filters", ":param entities => null"),
          ("clear the exclusions", ":param exclude => null")]),
        ("Why this item?",
         ["The paths that connect the user to a recommended item: items they interacted with that share a KG entity "
          "with it, and friends who interacted with it. Set <code>$item</code> to a recommended item first "
          "(<code>:param item =&gt; \"...\"</code>)."],
         [("explain.paths (draws the paths)", "explain.paths"),
          ("explain.why (a row per item)", ':param items => ["i0001", "i0002"]'),
          ("explain.why", "explain.why")]),
        ("Similar items",
         ["The items closest to <code>$item</code> by the cosine of the served run's item embeddings."],
         [("recommend.similar_items", "recommend.similar_items")]),
        ("Cold start",
         ["A user who arrived after training has no embedding yet; graphrec builds one from the graph: the mean of the "
          "embeddings of the items they interacted with, or of their friends'. (For an item: the items sharing a KG "
          "entity with it, or the users who interacted with it.)"],
         [("recommend.cold_start_for_user", "recommend.cold_start_for_user"),
          ("recommend.cold_start_similar_items", "recommend.cold_start_similar_items")]),
        ("Switching runs",
         ["Serving another published run is one statement, so one transaction: no query ever sees two runs. "
          "Set <code>$run</code> to a run id from the list above (or use <code>graphrec runs switch RUN</code>). "
          "Any query above also takes <code>$run</code> to read a run without serving it."],
         [("serve run $run", SWITCH)]),
    ]


STATEMENT_PREFIXES = ("recommend.", "explain.", "publish.")


def _text(source: str, mapping: GraphMapping, ids: dict) -> str:
    if source == PARAMS:
        return params(ids, mapping)
    return body(source, mapping) if source.startswith(STATEMENT_PREFIXES) else source


def guide(mapping: GraphMapping = DEFAULT, ids: dict | None = None) -> str:
    """The guide's HTML for ``mapping``; ``ids``: example user / item ids for the parameters (the sample graph's)."""
    ids = ids or SAMPLE_IDS
    out = []
    for title, paragraphs, queries in slides(mapping):
        parts = [f"<h3>{html.escape(title)}</h3>"] + [f"<p>{p}</p>" for p in paragraphs]
        for label, source in queries:
            attr = f' data-statement="{source}"' if source.startswith(STATEMENT_PREFIXES) else ""
            parts.append(f"<p><em>{html.escape(label)}</em></p>")
            parts.append(f'<pre mode="cypher" class="pre-scrollable code runnable"{attr}>'
                         f"{html.escape(_text(source, mapping, ids), quote=False)}</pre>")
        out.append('  <slide class="row-fluid">\n    <div class="col-sm-12">\n      '
                      + "\n      ".join(parts) + "\n    </div>\n  </slide>")
    return ('<!-- graphrec Browser guide: generated by scripts/build_browser_guide.py; play it with\n'
            '     :play http://127.0.0.1:PORT/guide.html, served by `graphrec browser` (see README, "Neo4j Browser"). -->\n'
            '<style type="text/css" media="screen">\n'
            '  .graphrec-guide pre.runnable { white-space: pre-wrap; }\n'
            '</style>\n'
            '<article class="guide graphrec-guide">\n<carousel class="deck container-fluid">\n'
            + "\n".join(out) + "\n</carousel>\n</article>\n")


def favorites(mapping: GraphMapping = DEFAULT, ids: dict | None = None) -> dict[str, str]:
    """File name → content; Neo4j Browser names a favourite after its first comment line."""
    out = {"00_set_parameters.cypher": f"// graphrec: set the parameters\n{params(ids or SAMPLE_IDS, mapping)}\n"}
    for n, name in enumerate(["recommend.for_user_index", "recommend.for_user", "recommend.similar_items",
                              "recommend.cold_start_for_user", "recommend.cold_start_similar_items",
                              "explain.why", "explain.paths", "publish.runs"], start=1):
        out[f"{n:02d}_{name.replace('.', '_')}.cypher"] = f"// graphrec: {name}\n{body(name, mapping)}\n"
    out["09_serve_run.cypher"] = f"// graphrec: serve run $run (publish.switch)\n{SWITCH}\n"
    return out




def style(mapping: GraphMapping = DEFAULT) -> str:
    """The style sheet (cypher/browser/style.grass) with the mapping's labels and types in its selectors."""
    text = (cypher.cypher_dir() / "browser" / "style.grass").read_text()
    if mapping.is_default:
        return text
    caption = {"user": mapping.user_id, "item": mapping.item_id}
    text = re.sub(r"node\.User \{([^}]*)caption: \"\{id\}\"",
                  lambda m: f"node.{mapping.user_label} {{{m.group(1)}caption: \"{{{_caption(caption['user'])}}}\"", text)
    text = re.sub(r"node\.Item \{([^}]*)caption: \"\{id\}\"",
                  lambda m: f"node.{mapping.item_label} {{{m.group(1)}caption: \"{{{_caption(caption['item'])}}}\"", text)
    for own, theirs in (("INTERACTED", mapping.interaction_types), ("FOLLOWS", mapping.social)):
        rule = re.search(rf"relationship\.{own} \{{[^}}]*\}}\n", text)
        if rule:
            text = text.replace(rule.group(0), "".join(rule.group(0).replace(f"relationship.{own}",
                                                                              f"relationship.{t}") for t in theirs))
    return text


def _caption(key: str) -> str:
    return "title" if key == "elementId" else key


def write(folder: Path, mapping: GraphMapping = DEFAULT, ids: dict | None = None) -> Path:
    """Write guide.html, style.grass and favorites/ for ``mapping`` into ``folder``; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "guide.html").write_text(guide(mapping, ids))
    (folder / "style.grass").write_text(style(mapping))
    (folder / "favorites").mkdir(exist_ok=True)
    for name, text in favorites(mapping, ids).items():
        (folder / "favorites" / name).write_text(text)
    return folder
