"""The power-law graph for scale (graphrec.sample.write_power_law): seeded bytes, exact sizes, the skew asked for,
and files the csv loader reads."""

import numpy as np
import pytest

import loaders
from graphrec.errors import ConfigError
from graphrec.sample import write_power_law, zipf_counts

FILES = ("interactions.csv", "kg.csv", "social.csv")
SIZE = dict(interactions=30_000, users=1_000, items=2_000)


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    return write_power_law(tmp_path_factory.mktemp("power") / "g", **SIZE, seed=5)


def rows(folder, name):
    lines = (folder / name).read_text().splitlines()
    return lines[0].split(","), [line.split(",") for line in lines[1:]]


def slope(counts: np.ndarray, top: int) -> float:
    """Slope of log(count) against log(rank) over the ``top`` largest counts."""
    ranked = np.sort(counts)[::-1][:top]
    return float(np.polyfit(np.log(np.arange(1, len(ranked) + 1)), np.log(ranked), 1)[0])


def test_same_seed_same_bytes_and_another_seed_other_bytes(graph, tmp_path):
    again = write_power_law(tmp_path / "again", **SIZE, seed=5)
    other = write_power_law(tmp_path / "other", **SIZE, seed=6)
    for name in FILES:
        assert (again / name).read_bytes() == (graph / name).read_bytes(), name
        assert (other / name).read_bytes() != (graph / name).read_bytes(), name


def test_exact_size_distinct_pairs_increasing_times_and_a_split_per_user(graph):
    header, data = rows(graph, "interactions.csv")
    assert header == ["user", "item", "ts", "split"]
    assert len(data) == SIZE["interactions"]
    users = np.array([int(r[0][1:]) for r in data])
    items = np.array([int(r[1][1:]) for r in data])
    ts = np.array([int(r[2]) for r in data])
    test = np.array([r[3] == "test" for r in data])
    assert {r[3] for r in data} == {"train", "test"}
    assert users.max() < SIZE["users"] and items.max() < SIZE["items"]
    assert len(set(zip(users.tolist(), items.tolist()))) == len(data)  # no repeated (user, item)
    assert (np.diff(users) >= 0).all()  # grouped by user ...
    same = np.diff(users) == 0
    assert (np.diff(ts)[same] >= 0).all()  # ... each user's times increasing
    degree = np.bincount(users, minlength=SIZE["users"])
    assert degree.min() >= 5 and degree.max() <= SIZE["items"] // 10
    tests = np.bincount(users, weights=test, minlength=SIZE["users"])
    assert (tests >= 1).all() and (tests <= degree - 1).all()
    assert 0.15 < test.mean() < 0.25
    # the test rows are each user's latest
    for u in (0, int(np.argmax(degree))):
        mine = np.flatnonzero(users == u)
        assert test[mine].tolist() == sorted(test[mine].tolist())


def test_activity_and_popularity_are_skewed_as_asked(graph):
    _, data = rows(graph, "interactions.csv")
    degree = np.bincount([int(r[0][1:]) for r in data], minlength=SIZE["users"])
    popularity = np.bincount([int(r[1][1:]) for r in data], minlength=SIZE["items"])
    # Zipf-like: the busiest 1% of users and the most popular 1% of items hold many times their share
    assert np.sort(degree)[::-1][:10].sum() / degree.sum() > 0.04
    assert np.sort(popularity)[::-1][:20].sum() / popularity.sum() > 0.15
    # rank-frequency of the popular items falls about as asked (0.9; a little flatter, since a user takes an item once)
    assert -1.0 < slope(popularity, 200) < -0.6
    steeper = write_power_law(graph.parent / "steep", **SIZE, item_exponent=1.3, seed=5)
    _, data = rows(steeper, "interactions.csv")
    assert slope(np.bincount([int(r[1][1:]) for r in data]), 200) < slope(popularity, 200) - 0.1


def test_kg_and_follows_are_power_law_without_self_ties(graph):
    _, kg = rows(graph, "kg.csv")
    heads = {r[0] for r in kg}
    assert len(heads) == SIZE["items"]  # every item has a fact
    assert len(set(map(tuple, kg))) == len(kg)
    tails = np.unique([r[2] for r in kg], return_counts=True)[1]
    assert np.sort(tails)[::-1][:4].sum() / tails.sum() > 0.1  # a few entities hold many facts
    _, social = rows(graph, "social.csv")
    assert 4 * SIZE["users"] <= len(social) <= 5 * SIZE["users"]
    assert all(s != d for s, d in social) and len(set(map(tuple, social))) == len(social)
    followed = np.unique([d for _, d in social], return_counts=True)[1]
    assert followed.max() > 10 * np.median(followed)


def test_the_csv_loader_reads_it(graph):
    data = loaders.load("csv", graph)
    assert len(data.interactions) == SIZE["interactions"]
    assert {i.split for i in data.interactions} == {"train", "test"}
    assert data.triples and data.social and data.triples[0].head_label == "Item"


def test_zipf_counts_deal_exactly_within_bounds():
    counts = zipf_counts(1_000, 50, 1.0, 3, 60)
    assert counts.sum() == 1_000 and counts.min() >= 3 and counts.max() <= 60
    assert (np.diff(counts) <= 0).all()  # rank 1 first
    with pytest.raises(ConfigError, match="cannot be dealt"):
        zipf_counts(1_000, 10, 1.0, 3, 60)


def test_sizes_that_do_not_fit_name_the_fix(tmp_path):
    with pytest.raises(ConfigError, match="more users or items"):
        write_power_law(tmp_path, 10_000, users=400, items=200)


def test_graphrec_sample_interactions_writes_the_power_law_graph(tmp_path):
    from click.testing import CliRunner

    from graphrec.cli import cli

    result = CliRunner().invoke(cli, ["sample", str(tmp_path / "g"), "--interactions", "30000", "--users", "1000",
                                      "--items", "2000", "--seed", "5"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "g" / "interactions.csv").read_bytes() == \
        (write_power_law(tmp_path / "lib", **SIZE, seed=5) / "interactions.csv").read_bytes()
    small = CliRunner().invoke(cli, ["sample", str(tmp_path / "s"), "--interactions", "10000"])
    assert small.exit_code == 1 and "more users or items" in str(small.exception)  # main() prints it as one line
