"""A graph in the user's own shape, on the real server: a shop with Customer / Product / Category nodes, two
interaction types, a KG type and a social type, ids in properties not called `id`. It goes through inspect → train →
publish → recommend → explain → fold-in through a mapping, and graphrec's own labels never appear in it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from graphrec import recommend as rec
from graphrec.cli import cli
from graphrec.errors import ConfigError
from graphrec.foldin import fold_in
from graphrec.inspect import propose, read_schema
from graphrec.mapping import DEFAULT, GraphMapping, Interaction
from graphrec.publish import publish
from graphrec.train import TrainConfig
from graphrec.workflow import DataConfig, evaluate_served, train_run

CATEGORIES = ["Books", "Games", "Music"]
SHOP = GraphMapping(user_label="Customer", user_id="customerNo", item_label="Product", item_id="sku",
                    interactions=(Interaction("PURCHASED", weight=3.0, timestamp="at"),
                                  Interaction("VIEWED", weight=1.0, timestamp="at")),
                    kg=("IN_CATEGORY",), social=("FRIENDS_WITH",), social_directed=False)


def build_shop(graph, n_customers: int = 48, n_products: int = 36, seed: int = 5) -> None:
    """Customers who each favour one category, viewing and buying mostly there; friends in pairs."""
    rng = np.random.default_rng(seed)
    customers = [{"no": 1000 + c, "name": f"customer {c}", "email": f"c{c}@example.com"} for c in range(n_customers)]
    products = [{"sku": f"P-{p:03d}", "title": f"Product {p}", "cat": CATEGORIES[p % 3]} for p in range(n_products)]
    views, purchases = [], []
    times = iter(rng.permutation(10 * n_customers * 13))  # interleaved in time across customers
    for c in range(n_customers):
        favourite = [p for p in range(n_products) if p % 3 == c % 3]
        other = [p for p in range(n_products) if p % 3 != c % 3]
        seen = list(rng.choice(favourite, 7, replace=False)) + list(rng.choice(other, 2, replace=False))
        for p in seen:
            views.append({"c": 1000 + c, "p": f"P-{p:03d}", "at": int(next(times))})
        for p in seen[:4]:
            purchases.append({"c": 1000 + c, "p": f"P-{p:03d}", "at": int(next(times)), "qty": int(rng.integers(1, 4))})
    graph.query("UNWIND $rows AS c CREATE (:Customer {customerNo: c.no, name: c.name, email: c.email})",
                {"rows": customers}, write=True)
    graph.query("UNWIND $rows AS p CREATE (x:Product {sku: p.sku, title: p.title}) "
                "MERGE (k:Category {name: p.cat}) CREATE (x)-[:IN_CATEGORY]->(k)", {"rows": products}, write=True)
    graph.query("UNWIND $rows AS r MATCH (c:Customer {customerNo: r.c}), (p:Product {sku: r.p}) "
                "CREATE (c)-[:VIEWED {at: r.at}]->(p)", {"rows": views}, write=True)
    graph.query("UNWIND $rows AS r MATCH (c:Customer {customerNo: r.c}), (p:Product {sku: r.p}) "
                "CREATE (c)-[:PURCHASED {at: r.at, qty: r.qty}]->(p)", {"rows": purchases}, write=True)
    graph.query("UNWIND range(0, $n - 2, 2) AS k MATCH (a:Customer {customerNo: 1000 + k}), "
                "(b:Customer {customerNo: 1001 + k}) CREATE (a)-[:FRIENDS_WITH]->(b)", {"n": n_customers}, write=True)


def own_properties(graph) -> dict:
    """Every node's and relationship's properties except graphrec's (graphrec_*)."""
    rows = graph.query("MATCH (n) WHERE NOT n:ModelRun RETURN elementId(n) AS id, properties(n) AS p "
                       "UNION ALL MATCH ()-[r]->() RETURN elementId(r) AS id, properties(r) AS p")
    return {r["id"]: {k: v for k, v in r["p"].items() if not k.startswith("graphrec_")} for r in rows}


@pytest.fixture(scope="module")
def shop(session_graph, tmp_path_factory):
    graph = session_graph
    graph.clear()
    build_shop(graph)
    before = own_properties(graph)
    graph.remap(SHOP)
    runs_dir = tmp_path_factory.mktemp("runs")
    run, _ = train_run(graph, runs_dir, "lightgcn", {"dim": 16}, TrainConfig(epochs=30, batch_size=256, lr=0.01,
                                                                               patience=30, seed=1))
    publish(graph, run)
    yield graph, run, runs_dir, before
    graph.remap(DEFAULT)


def test_inspect_proposes_the_mapping(session_graph):
    graph = session_graph
    graph.clear()
    build_shop(graph)
    schema = read_schema(graph)
    assert schema.labels == {"Customer": 48, "Product": 36, "Category": 3}
    assert {p["type"] for p in schema.patterns} == {"VIEWED", "PURCHASED", "IN_CATEGORY", "FRIENDS_WITH"}
    proposal = propose(graph, schema)
    assert (proposal.user_label, proposal.user_id, proposal.item_label, proposal.item_id) == \
        ("Customer", "customerNo", "Product", "sku")
    inters = {i.type: i for i in proposal.interactions}
    assert set(inters) == {"PURCHASED", "VIEWED"}
    assert inters["PURCHASED"].timestamp == "at" and inters["PURCHASED"].weight == "qty"
    assert proposal.kg == ("IN_CATEGORY",) and proposal.social == ("FRIENDS_WITH",)
    assert proposal.social_directed is False
    assert "[[mapping.interactions]]" in proposal.toml()


def test_a_misspelled_name_fails_before_any_write_and_lists_what_the_graph_has(session_graph, tmp_path):
    graph = session_graph
    graph.clear()
    build_shop(graph)
    before = own_properties(graph)
    for wrong, match in ((dict(item_label="Prodcut"), "item label 'Prodcut' is not in the graph; it has: .*Product"),
                         (dict(interactions=(Interaction("PURCHASD"),)), "interaction type 'PURCHASD'.*PURCHASED"),
                         (dict(user_id="customerId"), "have no 'customerId'; their properties: customerNo, email"),
                         (dict(social=("FRIENDS",)), "social type 'FRIENDS'")):
        graph.remap(GraphMapping(**{**SHOP.__dict__, "key_types": (), **wrong}))
        try:
            with pytest.raises(ConfigError, match=match):
                train_run(graph, tmp_path, "lightgcn", {}, TrainConfig(epochs=1))
        finally:
            graph.remap(DEFAULT)
    assert own_properties(graph) == before
    assert not list(tmp_path.iterdir())  # no run folder either


def test_the_shop_trains_publishes_and_serves_on_its_own_labels(shop):
    graph, run, _, before = shop
    assert run.meta["counts"]["users"] == 48 and run.meta["counts"]["social"] == 48  # 24 ties, both ways
    assert run.meta["split_origin"].startswith("time")
    liked = [sum(int(r["item"][2:]) % 3 == c % 3 for r in rec.recommend(graph, str(1000 + c), 3, path="exact"))
             for c in range(48)]
    assert sum(liked) / (3 * 48) > 0.6  # the favourite categories are learnt (a random top-3: ~0.2)
    for own in ("User", "Item", "Entity"):
        assert graph.query(f"MATCH (n:{own}) RETURN count(n) AS n")[0]["n"] == 0
    types = {r["t"] for r in graph.query("MATCH ()-[r]->() RETURN DISTINCT type(r) AS t")}
    assert types == {"VIEWED", "PURCHASED", "IN_CATEGORY", "FRIENDS_WITH"}
    customer = graph.query("MATCH (c:Customer {customerNo: 1000}) RETURN c")[0]["c"]
    assert any(k.startswith("graphrec_emb_") for k in customer) and customer["email"] == "c0@example.com"

    rows = rec.recommend(graph, "1000", 5)
    assert len(rows) == 5 and all(r["item"].startswith("P-") and r["name"].startswith("Product") for r in rows)
    seen = {r["s"] for r in graph.query("MATCH (:Customer {customerNo: 1000})-[:VIEWED|PURCHASED]->(p) "
                                        "RETURN p.sku AS s")}
    assert not seen & {r["item"] for r in rows}
    exact = rec.recommend(graph, "1000", 5, path="exact")
    assert [r["item"] for r in rows][:3] == [r["item"] for r in exact][:3]
    books = rec.recommend(graph, "1000", 5, path="exact", entities=["Books"])
    assert all(int(r["item"][2:]) % 3 == 0 for r in books)
    why = rec.explain(graph, "1000", [r["item"] for r in rows])
    assert any(p["name"] in CATEGORIES and p["relation"] == "IN_CATEGORY" for w in why.values() for p in w["via_kg"])
    assert all(f == "1001" for w in why.values() for f in w["via_friends"])  # the tie is read both ways
    assert rec.similar(graph, "P-000", 3)[0]["item"].startswith("P-")
    with pytest.raises(Exception, match="unknown user '999'.*Customer"):
        rec.recommend(graph, "999", 5)


def test_publishing_again_leaves_the_users_own_properties_untouched(shop):
    graph, run, _, before = shop
    publish(graph, run)
    assert own_properties(graph) == before


def test_served_cypher_path_equals_the_offline_evaluation(shop):
    graph, run, runs_dir, _ = shop
    result = evaluate_served(graph, runs_dir, run.id, k=10)
    assert result["users"] > 0 and result["offline"]["recall@10"] > 0
    for key, value in result["offline"].items():
        assert result["served"][key] == pytest.approx(value, abs=1e-9), key


def test_a_newcomer_gets_cold_start_at_once_then_fold_in(shop):
    graph, run, _, _ = shop
    graph.query("CREATE (c:Customer {customerNo: 2000, name: 'new'}) WITH c "
                "MATCH (p:Product) WHERE p.sku IN ['P-001', 'P-004', 'P-007'] CREATE (c)-[:PURCHASED {at: 9999}]->(p)",
                write=True)
    graph.query("CREATE (p:Product {sku: 'P-900', title: 'New product'}) WITH p "
                "MATCH (c:Customer) WHERE c.customerNo IN [1001, 1004, 1007] CREATE (c)-[:VIEWED {at: 9999}]->(p)",
                write=True)
    cold = rec.recommend(graph, "2000", 5, path="exact")
    assert cold[0]["basis"] == "items" and cold[0]["neighbours"] == 3
    report = fold_in(graph, run)
    assert report.users == 1 and report.items == 1
    warm = rec.recommend(graph, "2000", 5, path="exact")
    assert "basis" not in warm[0]
    assert sum(int(r["item"][2:]) % 3 == 1 for r in warm[:3]) >= 2  # what it bought: the Games category
    node = graph.query("MATCH (r:ModelRun {id: $id}) RETURN r.folded_users AS u, r.folded_items AS i", {"id": run.id})
    assert node == [{"u": 1, "i": 1}]
    assert rec.similar(graph, "P-900", 3)  # the folded item is served too


def test_the_cli_reads_the_shop_through_a_config_mapping(shop, settings, tmp_path):
    graph, run, runs_dir, _ = shop
    home_config = (settings.home / "config.toml").read_text()
    config = tmp_path / "shop.toml"
    config.write_text(home_config + "\n" + SHOP.toml())
    runner = CliRunner(env={"NEO4J_URI": ""})
    args = ["--home", str(settings.home), "--config", str(config)]
    out = runner.invoke(cli, [*args, "recommend", "--user", "1002", "-k", "3", "--explain", "--run", run.id])
    assert out.exit_code == 0, out.output
    assert "P-" in out.output and "IN_CATEGORY" in out.output
    out = runner.invoke(cli, [*args, "inspect", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["mapping"]["item_label"] == "Product"
    out = runner.invoke(cli, [*args, "--item-label", "Prodcut", "recommend", "--user", "1002"])
    assert isinstance(out.exception, ConfigError) and "'Prodcut' is not in the graph" in str(out.exception)
    out = runner.invoke(cli, [*args, "ingest", "csv", str(tmp_path)])
    assert out.exit_code == 2 and "ingest writes graphrec's own schema" in out.output


@pytest.mark.parametrize("model", ["kgat", "mhcn", "unigcl"])
def test_kg_and_social_models_get_the_mapped_graphs(shop, model, tmp_path):
    graph, _, _, _ = shop
    run, _ = train_run(graph, tmp_path, model, {"dim": 8}, TrainConfig(epochs=2, batch_size=256, seed=1))
    counts = run.meta["counts"]
    assert counts["kg"] == 36 and counts["social"] == 48  # IN_CATEGORY once per product; the ties both ways
    products = graph.query("MATCH (p:Product) RETURN count(p) AS n")[0]["n"]  # 37 once the newcomer test ran
    assert run.embeddings()["item"].shape[0] == counts["items"] == products
    assert run.meta["metrics"]["test"]["recall@20"] > 0
