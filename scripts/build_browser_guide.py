"""Write cypher/browser/guide.html and cypher/browser/favorites/*.cypher from the named statements.

The Browser guide and the favourites carry the very statements graphrec runs (their Neo4j 5 form), so they never
drift from cypher/*.cypher; tests/unit/test_browser.py fails when the committed files are out of date.

    python scripts/build_browser_guide.py
"""

from __future__ import annotations

import html
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from graphrec.db import cypher  # noqa: E402

BROWSER = ROOT / "cypher" / "browser"

# The parameters every query below uses; ids from the sample graph (`graphrec demo`). Change them in the first slide.
# Browser evaluates a `:params {...}` map as JavaScript, so its numbers arrive as floats and `LIMIT $k` refuses 10.0;
# `:param NAME => VALUE` has the server evaluate the value, so the counts stay integers. Browser runs the lines in turn.
PARAMS = (':params {user: "u0001", item: "i0001", run: null, seen_splits: null, entities: null, exclude: null, '
          'items: ["i0001", "i0002"]};\n:param k => 10;\n:param fetch => 200;\n:param limit => 5')


def body(name: str) -> str:
    """A statement without its header comments: what a Browser user runs."""
    lines = cypher.statement(name).splitlines()
    while lines and lines[0].lstrip().startswith("//"):
        lines.pop(0)
    return "\n".join(lines)


# publish.switch with the time taken from the server, since a Browser user has no $now to pass.
SWITCH = ("MATCH (target:ModelRun {id: $run})\nWHERE target.status = 'ready'\n"
          "SET target.switched_at = toString(datetime())\nWITH target\nMATCH (r:ModelRun)\n"
          "SET r.serving = (r.id = target.id)\nRETURN target.id AS serving, count(r) AS runs")

# (title, paragraphs of HTML, [(label, statement name or literal Cypher)]) per slide.
SLIDES = [
    ("graphrec in Neo4j Browser",
     ["This guide walks through the graph graphrec keeps, the model runs written back onto it, and the Cypher "
      "queries that serve recommendations. Load the style sheet first (drag <code>cypher/browser/style.grass</code> "
      "onto this window) so users, items, entities and relationship types are easy to tell apart.",
      "Every query takes its values as parameters. Run this to set them (edit the ids for your graph: "
      "<code>graphrec cypher 'MATCH (u:User) RETURN u.id LIMIT 5'</code> lists a few):"],
     [("set the parameters", PARAMS)]),
    ("The graph",
     ["Users <code>(:User)</code> interact with items <code>(:Item)</code>; items link to knowledge-graph entities "
      "<code>(:Entity)</code> (genres, creators ...) by typed relationships that keep the source name in "
      "<code>relation</code>; users follow users.",
      "How many of each:"],
     [("nodes per label", "MATCH (n) RETURN labels(n) AS labels, count(*) AS nodes ORDER BY nodes DESC"),
      ("one user's neighbourhood",
       "MATCH p = (u:User {id: $user})-[:INTERACTED]->(:Item)-->(:Entity)\nRETURN p LIMIT 25"),
      ("one user's friends and what they played",
       "MATCH p = (u:User {id: $user})-[:FOLLOWS]->(:User)-[:INTERACTED]->(:Item)\nRETURN p LIMIT 25")]),
    ("Model runs",
     ["<code>graphrec publish RUN</code> writes a trained run's embeddings onto the nodes (<code>emb_&lt;run&gt;</code> "
      "on users and items, <code>mips_&lt;run&gt;</code> on items) with a <code>(:ModelRun)</code> node holding its "
      "model, hyper-parameters, metrics and the names of those properties. Exactly one run has "
      "<code>serving: true</code>; every query below reads its property names from it."],
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


def _text(source: str) -> str:
    return body(source) if source.startswith(STATEMENT_PREFIXES) else source


def guide() -> str:
    slides = []
    for title, paragraphs, queries in SLIDES:
        parts = [f"<h3>{html.escape(title)}</h3>"] + [f"<p>{p}</p>" for p in paragraphs]
        for label, source in queries:
            attr = f' data-statement="{source}"' if source.startswith(STATEMENT_PREFIXES) else ""
            parts.append(f"<p><em>{html.escape(label)}</em></p>")
            parts.append(f'<pre mode="cypher" class="pre-scrollable code runnable"{attr}>'
                         f"{html.escape(_text(source), quote=False)}</pre>")
        slides.append('  <slide class="row-fluid">\n    <div class="col-sm-12">\n      '
                      + "\n      ".join(parts) + "\n    </div>\n  </slide>")
    return ('<!-- graphrec Browser guide: generated by scripts/build_browser_guide.py; play it with\n'
            '     :play http://127.0.0.1:PORT/guide.html, served by `graphrec browser` (see README, "Neo4j Browser"). -->\n'
            '<style type="text/css" media="screen">\n'
            '  .graphrec-guide pre.runnable { white-space: pre-wrap; }\n'
            '</style>\n'
            '<article class="guide graphrec-guide">\n<carousel class="deck container-fluid">\n'
            + "\n".join(slides) + "\n</carousel>\n</article>\n")


def favorites() -> dict[str, str]:
    """File name → content; Neo4j Browser names a favourite after its first comment line."""
    out = {"00_set_parameters.cypher": f"// graphrec: set the parameters\n{PARAMS}\n"}
    for n, name in enumerate(["recommend.for_user_index", "recommend.for_user", "recommend.similar_items",
                              "recommend.cold_start_for_user", "recommend.cold_start_similar_items",
                              "explain.why", "explain.paths", "publish.runs"], start=1):
        out[f"{n:02d}_{name.replace('.', '_')}.cypher"] = f"// graphrec: {name}\n{body(name)}\n"
    out["09_serve_run.cypher"] = f"// graphrec: serve run $run (publish.switch)\n{SWITCH}\n"
    return out


def main() -> None:
    (BROWSER / "guide.html").write_text(guide())
    folder = BROWSER / "favorites"
    folder.mkdir(exist_ok=True)
    for name, text in favorites().items():
        (folder / name).write_text(text)
    print(f"wrote {BROWSER / 'guide.html'} and {len(favorites())} favourites in {folder}")


if __name__ == "__main__":
    main()
