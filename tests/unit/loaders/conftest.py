"""Helpers for loader tests: locate one real dataset, write small hand-made files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def real_dataset(shared_data: Path) -> Callable[[str], Path]:
    """``real_dataset("ml-100k")`` → its folder under shared data, or skip when that dataset is missing."""
    def locate(name: str) -> Path:
        folder = shared_data / name
        if not folder.is_dir():
            pytest.skip(f"dataset {name} not found under {shared_data}")
        return folder
    return locate


@pytest.fixture
def make_files(tmp_path: Path) -> Callable[..., Path]:
    """``make_files({"train.txt": "0 1 2\\n"})`` writes the files (str as UTF-8, or bytes); returns their folder."""
    def write(files: dict[str, str | bytes], folder: str = "data") -> Path:
        root = tmp_path / folder
        for name, content in files.items():
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_bytes(content.encode("utf-8"))
        root.mkdir(parents=True, exist_ok=True)
        return root
    return write
