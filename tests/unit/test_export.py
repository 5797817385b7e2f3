import math

import torch

from graphrec.export import export
from graphrec.mapping import GraphMapping, Interaction
from graphrec.recdata import RecData

SHOP = GraphMapping(user_label="Customer", user_id="no", item_label="Product", item_id="sku",
                    interactions=(Interaction("BOUGHT", weight=3.0), Interaction("RATED", weight="stars")),
                    kg=("IN_GENRE",), social=())


class FakeGraph:
    """Answers export's statements from a script, rows in the arbitrary order a server may return them."""

    mapping = SHOP

    def __init__(self, users, items, edges):
        self.ids = {"Customer": users, "Product": items}
        self.edges = edges

    def read(self, name, identifiers=None, **params):
        assert name == "export.node_ids"
        return [{"id": ident} for ident in self.ids[identifiers["label"]]]

    def stream(self, name, identifiers=None, **params):
        if name == "export.interactions":
            by_user: dict = {}
            for user, item, rtype, weight in self.edges:
                by_user.setdefault(user, []).append((item, rtype, None, weight, None, None))
            return [{"user": user, "edges": rows} for user, rows in by_user.items()]
        if name == "export.item_facts":
            return [{"head": "p1", "head_is_item": True, "facts": [("IN_GENRE", False, "genre-1")]}]
        assert name == "export.follows"
        return []


def test_exported_weights_reach_recdata_beside_their_own_interactions():
    edges = [("10", "p3", "RATED", 4), ("2", "p1", "BOUGHT", None), ("10", "p1", "RATED", None),
             ("2", "p3", "RATED", 5), ("2", "p3", "BOUGHT", None), ("7", "p2", "RATED", 1.5),
             ("10", "p2", "BOUGHT", None), ("7", "p1", "RATED", 2), ("2", "p2", "RATED", 3),
             ("10", "p4", "RATED", 5), ("7", "p4", "BOUGHT", None), ("7", "p3", "RATED", None)]
    expected: dict = {}
    for user, item, rtype, weight in edges:  # a purchase weighs 3; a rating its stars; both on one pair: the sum
        w = 3.0 if rtype == "BOUGHT" else float("nan") if weight is None else float(weight)
        key = (user, item)
        expected[key] = w if key not in expected else \
            (1.0 if math.isnan(expected[key]) else expected[key]) + (1.0 if math.isnan(w) else w)
    hetero, ids = export(FakeGraph(["7", "10", "2"], ["p4", "p2", "p3", "p1"], edges), split="random", seed=3)
    rec = RecData.from_hetero(hetero)
    assert expected[("2", "p3")] == 8.0 and rec.train.nnz + rec.valid.nnz + rec.test.nnz == len(expected)
    seen = 0
    for name in ("train", "valid", "test"):
        split = rec.split(name)
        for u, i, w in zip(*(t.tolist() for t in split.pairs()), split.weights.tolist()):
            want = expected[(ids.ids["user"][u], ids.ids["item"][i])]
            assert w == want or (math.isnan(w) and math.isnan(want)), (name, u, i, w, want)
            seen += 1
    assert seen == len(expected)
