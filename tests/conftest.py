"""Fixtures and options shared by every test tier. Keep each section small; add new ones below."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


# --- tiers: tests marked slow (whole datasets) run only with --slow -------------------------------------------------

def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true", default=False, help="also run tests marked slow (whole datasets)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="slow (whole dataset): run with --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


# --- real data: ../shared/data next to the repository, or $GRAPHREC_DATA ----------------------------------------------

@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real datasets (see its PROVENANCE.md); the test is skipped when it is absent."""
    root = Path(os.environ.get("GRAPHREC_DATA") or REPO_ROOT / ".." / "shared" / "data").resolve()
    if not root.is_dir():
        pytest.skip(f"real data not found at {root}; set GRAPHREC_DATA to its folder")
    return root
