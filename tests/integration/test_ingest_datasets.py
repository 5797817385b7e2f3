"""The slow tier: whole datasets ingested into the real server match PROVENANCE.md, and a second ingest changes
nothing. Run with `bash scripts/test.sh --slow tests/integration/test_ingest_datasets.py`."""

from __future__ import annotations

import pytest

from graphrec.ingest import ingest_files
from graphrec.stats import graph_stats

# (format, folder, expected stats) — the numbers are PROVENANCE.md's.
CASES = [
    ("lightgcn", "lightgcn-gowalla", {"users": 29_858, "items": 40_981,
                                      "interactions": {"total": 1_027_370, "train": 810_128, "test": 217_242}}),
    ("lightgcn", "kgat-amazon-book", {"users": 70_679, "items": 24_915,
                                      "interactions": {"total": 846_434, "train": 652_514, "test": 193_920}}),
    ("lightgcn", "ml-1m-implicit-lightgcnpp", {"users": 6_039, "items": 3_628, "interactions": {
        "total": 836_478, "train": 590_733, "valid": 80_897, "test": 164_848}}),
    ("lastfm", "lastfm-hetrec2011", {"users": 1_892, "items_with_interactions": 17_632, "social": 25_434,
                                     "interactions": {"total": 92_834, "none": 92_834},
                                     "kg": {"triples": 15_518, "relations": 60}}),
    ("movielens", "ml-100k", {"users": 943, "items": 1_682, "interactions": {"total": 100_000, "none": 100_000},
                              "kg": {"triples": 2_893, "relations": 1}}),
    ("diffnet", "diffnet-yelp", {"users": 17_237, "items_with_interactions": 37_378, "social": 143_765, "interactions": {
        "total": 207_945, "train": 185_869, "valid": 3_497, "test": 18_579}}),
    # FilmTrust's trainset.txt has 33,750 rows, but user 308 rated items 12 and 235 twice (lines 7030/7082 and
    # 7032/7103): one INTERACTED edge per (user, item, split), the later rating wins, and ingest reports 2 repeats.
    ("filmtrust", "filmtrust", {"users_with_interactions": 1_508, "items": 2_071, "social": 1_853,
                                "interactions": {"total": 35_495, "train": 33_748, "test": 1_747}}),
]


@pytest.mark.slow
@pytest.mark.parametrize("format_name, folder, expected", CASES, ids=[c[1] for c in CASES])
def test_whole_dataset_matches_provenance(graph, shared_data, format_name, folder, expected):
    ingest_files(graph, format_name, shared_data / folder)
    stats = graph_stats(graph)
    for key, value in expected.items():
        assert stats[key] == value, (key, stats[key])
    again = ingest_files(graph, format_name, shared_data / folder)
    assert sum(again.created.values()) == 0 and sum(again.updated.values()) == 0
    assert graph_stats(graph) == stats
