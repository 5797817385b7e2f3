"""Progress reporting without printing from library code: stages take a ``progress`` factory.

``progress(desc, total)`` returns a context manager that yields ``advance(n)``. The CLI passes :func:`bar` (a tqdm bar on
stderr); library callers and tests get :func:`silent` by default.
"""

from __future__ import annotations

import contextlib
from typing import Callable, ContextManager, Iterator

Advance = Callable[[int], None]
Progress = Callable[[str, int], ContextManager[Advance]]


@contextlib.contextmanager
def silent(desc: str, total: int) -> Iterator[Advance]:
    yield lambda n: None


@contextlib.contextmanager
def bar(desc: str, total: int) -> Iterator[Advance]:
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, unit_scale=True, dynamic_ncols=True, leave=True) as pbar:
        yield pbar.update
