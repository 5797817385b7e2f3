"""Business id ↔ embedding row, per node type: what export hands to training and a run folder keeps (ids.json).

Kept apart from the export stage so that reading a run's ids needs no torch (the small CLI commands stay quick).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass
class IdMaps:
    """Business id ↔ row index, per node type. Index i of ``ids[type]`` is row i of that type's embeddings."""

    ids: dict[str, list[str]]

    def __post_init__(self) -> None:
        self.index = {t: {ident: k for k, ident in enumerate(ids)} for t, ids in self.ids.items()}

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.ids))

    @classmethod
    def load(cls, path: str | Path) -> "IdMaps":
        return cls(json.loads(Path(path).read_text()))
