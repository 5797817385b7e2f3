"""Write cypher/browser/guide.html and cypher/browser/favorites/*.cypher from the named statements.

The Browser guide and the favourites carry the very statements graphrec runs (their Neo4j 5 form, rendered for
graphrec's own schema), so they never drift from cypher/*.cypher; tests/unit/test_browser.py fails when the
committed files are out of date. The text lives in graphrec.guide, which `graphrec browser` also uses to write a
guide for a graph in the user's own shape.

    python scripts/build_browser_guide.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from graphrec.guide import favorites, guide  # noqa: E402

BROWSER = ROOT / "cypher" / "browser"


def main() -> None:
    (BROWSER / "guide.html").write_text(guide())
    folder = BROWSER / "favorites"
    folder.mkdir(exist_ok=True)
    for name, text in favorites().items():
        (folder / name).write_text(text)
    print(f"wrote {BROWSER / 'guide.html'} and {len(favorites())} favourites in {folder}")


if __name__ == "__main__":
    main()
