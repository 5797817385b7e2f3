"""Test tiers: unit (default, no database), integration (a real embedded graph server, started once per session),
slow (whole datasets from ../shared/data; run with --slow)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true", help="also run the slow tier (whole datasets)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="slow tier: run with --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real datasets: ``$GRAPHREC_DATA`` or ``../shared/data`` beside the checkout. Skips when absent."""
    path = Path(os.environ.get("GRAPHREC_DATA", REPO.parent / "shared" / "data"))
    if not path.is_dir():
        pytest.skip(f"real datasets not found at {path} (set GRAPHREC_DATA)")
    return path
