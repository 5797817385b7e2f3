"""Saving the benchmark plots as SVG: text that diffs and reviews like the records it is drawn from (no tracked
binaries), and the same bytes when it is drawn again from the same records (no date, a fixed id salt, text kept as
text rather than glyph outlines, which also keeps the files small)."""

from __future__ import annotations

from pathlib import Path


def save(fig, path: str | Path) -> None:
    """Write ``fig`` to ``path`` in the format its suffix names (``.svg`` for the plots under benchmarks/results)."""
    import matplotlib

    if Path(path).suffix.lower() != ".svg":
        fig.savefig(path, dpi=100)
        return
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "graphrec"}):
        fig.savefig(path, metadata={"Date": None})
