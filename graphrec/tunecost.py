"""What a budgeted search (:mod:`graphrec.tune`) keeps free of its budget, and what it expects each step to take.

The budget is wall-clock for the whole command: the export, every trial, the refit, the test and the publishing of the
winner (:class:`PublishCost`: its embeddings and vector index, and a closed-form model's item–item rows, estimated from
the graph's size or the last publish timed in the same home, and from the model's own trials). A trial is started only
while what is left can hold it and the refit, test and publish of the best setting so far (or of this trial, should it
win); a trained trial ends early when the next epoch would run past its share, or when the pruner stops it; the refit's
training stops where its test and publish still fit.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from graphrec.models import model_class
from graphrec.recdata import RecData


class Budget:
    """Wall-clock seconds left of ``seconds`` (None: no limit) since ``start`` (a ``clock()`` reading; default: now)."""

    def __init__(self, seconds: float | None, clock: Callable[[], float] = time.monotonic,
                 start: float | None = None):
        self.seconds, self.clock, self.start = seconds, clock, clock() if start is None else start

    def left(self) -> float:
        return float("inf") if self.seconds is None else self.seconds - (self.clock() - self.start)



def entry_seconds(rows: list[dict], least: float) -> float:
    """Room a closed-form model's first grid point needs: as much as the dearest closed-form point so far (at least
    ``least``). On Gowalla ChebyCF's first point took 68 s where 10 s were asked for, and the mixes after it were
    left out."""
    return max([least] + [r["seconds"] for r in rows if r["state"] == "complete" and not r.get("epochs")])



def budget_margin(budget: Budget) -> float:
    """Seconds of the budget kept free for what no estimate covers (writing records, closing the graph)."""
    return 0.0 if budget.seconds is None else max(5.0, 0.03 * budget.seconds)


PUBLISH_FILE = "publish-timing.json"  # in the runs folder: the last publish timed in this home, per part



@dataclass
class PublishCost:
    """Wall seconds publishing a winner will take on a graph of ``n_users`` x ``n_items``, in parts: writing one
    embedding per user and item and building their vector index (every model; a closed-form one's low-pass part), and
    for a closed-form model, or a mix through its base, forming each item's row of S and writing its ``similar``
    largest entries. The writes come from the graph's size at slow rates (a loaded 2-core machine writing over Bolt)
    until a publish was timed in this home (``measured``: part -> (size, seconds), :meth:`load`), then from that, a
    quarter on top. Forming the rows comes from the model's own trials, each of which timed a few rows
    (:func:`graphrec.closedfit.rows_seconds`). Before, one rate for every closed-form model (and thrice it for a mix)
    kept 830 s free for SGFCF on Gowalla, whose publish took 275 s, and 2,490 s for a mix: a fresh home's 30-minute
    search stopped at 19 minutes, no mix tried; while BSPM's rows took 223 s and ChebyCF's 457 s, SGFCF's 27 s
    (``benchmarks/publish_rows.py``). No sizes (no publish): nothing is kept free."""

    n_users: int = 0
    n_items: int = 0
    ranked_users: int = 0  # validation users each trial ranked: the rows' estimate scales their ranking time
    similar: int = 100
    measured: dict | None = None
    FIXED = 10.0  # the run node, switching the served run, creating the vector index and waiting for it
    RATE = {"embeddings": 700.0, "item_item": 15_000.0}  # nodes or relationships written per second: Gowalla's
    # 70,839 low-pass embeddings of SGFCF and their index took 116 s; its 4.1 M item–item rows 153 s at load 2, and
    # LinkProp's ~440 s at load 8

    def size(self, part: str) -> int:
        return self.n_users + self.n_items if part == "embeddings" else self.n_items * self.similar

    def write_seconds(self, part: str) -> float:
        """Seconds to write ``part`` ("embeddings" or "item_item") of this graph."""
        if self.measured and part in self.measured:
            size, seconds = self.measured[part]
            return 1.25 * seconds * max(1.0, self.size(part) / max(1, size))
        return self.size(part) / self.RATE[part]

    def rows_seconds(self, name: str, rows: Sequence[dict]) -> float:
        """Seconds to form every item's row of closed-form ``name``'s S: the most its points in ``rows`` timed
        (:func:`graphrec.closedfit.rows_seconds`), else (a search saved before they were timed) from their
        rankings."""
        points = [r for r in rows if r["model"] == name and r["state"] == "complete" and not r.get("epochs")]
        if any("rows_seconds" in r for r in points):
            return max(r.get("rows_seconds", 0.0) for r in points)
        ranking = max((r["seconds"] - r.get("fit_seconds", 0.0) for r in points), default=0.0)
        return ranking * self.n_items / max(1, self.ranked_users)

    def seconds(self, name: str | None, rows: Sequence[dict] = (), base: str | None = None) -> float:
        """For a winner of model ``name`` (None: a trained one; "mix": a mix of closed-form ``base``), its trials'
        rows in ``rows``. A model scored by its embeddings alone (a trained one, iALS, popularity) writes no
        item–item rows."""
        if not self.n_users + self.n_items:
            return 0.0
        seconds = self.FIXED + self.write_seconds("embeddings")
        rows_of = base if name == "mix" else name  # the model whose item–item rows are written, if it has any
        if rows_of is not None and not model_class(rows_of).dot_product_scores:
            seconds += self.write_seconds("item_item") + self.rows_seconds(rows_of, rows)
        return seconds

    @classmethod
    def load(cls, runs_dir, **sizes) -> "PublishCost":
        path = Path(runs_dir) / PUBLISH_FILE
        measured = json.loads(path.read_text()) if path.is_file() else None
        return cls(**sizes, measured=measured)

    def record(self, runs_dir, timed: dict[str, float]) -> None:
        """Keep the wall seconds each part of a publish took (``timed``: "embeddings", "item_item": the writes
        alone, :attr:`graphrec.publish.PublishReport.seconds`), for the next search in this home."""
        path = Path(runs_dir) / PUBLISH_FILE
        measured = json.loads(path.read_text()) if path.is_file() else {}
        for part in ("embeddings", "item_item"):
            if timed.get(part):
                measured[part] = [self.size(part), timed[part]]
        path.write_text(json.dumps(measured))


def test_estimate(row: dict | None, scale: float = 1.0) -> float:
    """Wall seconds the refitted model's test is expected to take: two validations' (a trained trial's epoch, which
    includes its validation, twice; a closed-form trial's validation, its seconds less its fit, which the refit
    counts once), times ``scale``, the test users per validation user the trials ranked (a sample of 5,000 of
    Gowalla's 29,858: a test six times a validation). Counting the fit six times too kept 270 s too many free for
    an SGFCF winner on Gowalla (a 92.9 s trial, 44.7 s of it the fit), and the grid stopped after its first point."""
    if row is None:
        return 0.0
    if not row.get("epochs"):
        return scale * max(0.0, row.get("seconds", 0.0) - row.get("fit_seconds", 0.0))
    return 2 * scale * row["seconds"] / row["epochs"]



def test_scale(data: RecData, ranked: RecData) -> float:
    """Test users per validation user ranked (at least 1): what a trial's validation time is multiplied by."""
    ranked_users = int((ranked.valid.counts() > 0).sum())
    return max(1.0, int((data.test.counts() > 0).sum()) / max(1, ranked_users))



def refit_estimate(row: dict | None, export_seconds: float, scale: float = 1.0) -> float:
    """Wall seconds a refit of ``row``'s setting on train + valid and its test are expected to take: the export
    again, the trial's training up to its best epoch a quarter longer (valid is added to train), and the test."""
    if row is None:
        return export_seconds
    if not row.get("epochs"):  # closed form: fitted again (a third longer), then tested
        return export_seconds + 1.3 * row.get("fit_seconds", row.get("seconds", 0.0)) + test_estimate(row, scale)
    per_epoch = row["seconds"] / row["epochs"]
    return export_seconds + 1.25 * per_epoch * row["best_epoch"] + test_estimate(row, scale)



def full_fit(row: dict | None, rows: list[dict]) -> dict | None:
    """``row`` with its model's dearest fit: a closed-form grid point that reused an earlier point's fit (SGFCF's
    gamma, a hybrid's weight) records a fit of ~0 s, but its refit fits in full. A mix's row records its refit's fit
    in full already (its base's and its part's)."""
    if row is None or row.get("epochs") or row["model"] == "mix":
        return row
    return {**row, "fit_seconds": max(r.get("fit_seconds", 0.0) for r in rows if r["model"] == row["model"])}
