"""What a model declares worth searching: ``search_space``, a class attribute beside its constructor's defaults.

Each entry names a constructor argument (:mod:`graphrec.trials` adds the training loop's ``lr``) and gives either
a tuple, a choice among those values, or a :class:`Range`, an interval searched on a log scale where ``log`` (rates and
regularisation weights, whose useful values span decades). ``graphrec tune`` (:mod:`graphrec.tune`) reads them; the
closed-form models' spaces are tuples only, small grids :func:`graphrec.closedfit.search` walks whole.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphrec.errors import ModelError


@dataclass(frozen=True)
class Range:
    low: float
    high: float
    log: bool = False

    def __post_init__(self):
        if not self.low < self.high or (self.log and self.low <= 0):
            raise ModelError(f"Range(low={self.low}, high={self.high}, log={self.log}): need low < high"
                             + (" and low > 0 on a log scale" if self.log else ""))
