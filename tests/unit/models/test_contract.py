"""The contract every registered model must pass, on a graph with a known answer.

Two communities: users 0-5 interact with items 0-5, users 6-11 with items 6-11. Each user's "own" item of its
block (item u) is held out; after training, that item must outrank every item of the other block.
"""

import pytest
import torch

from graphrec.errors import ModelError
from graphrec.models import MODELS, build, load_model, save_model
from graphrec.recdata import RecData
from graphrec.sidegraphs import SideGraphs
from graphrec.train import make_optimizer, train_epoch

N = 12
FAST = {"dim": 16}  # every model takes dim; small keeps the contract test fast
# Tiny-graph settings for models whose paper defaults are scaled for real catalogues. In each block the training
# graph is K6,6 minus the matching (u, u); off the community direction its Â has singular value 1/5 with *opposite*
# signs on user u and item u, so the held-out item is exactly the one a uniformity-seeking contrastive term favours
# least once it outweighs BPR (SGL ssl_reg 0.1, SimGCL lambda 0.5, LightGCL lambda1 0.2 all rank it last for every
# user here). UltraGCN's 1500 negatives x weight 300 are calibrated for ~40k items; with 12 items every item is a
# negative ~125 times per positive. Smaller weights still exercise each loss term.
SMALL_GRAPH = {
    "sgl": {"ssl_reg": 0.01},
    "simgcl": {"cl_rate": 0.1},
    "lightgcl": {"cl_rate": 0.05},
    "ultragcn": {"negative_num": 10, "negative_weight": 10.0},
}


# The spectral filters' ideal low-pass cut-off must fit the 12-node graph; ItemKNN's k the 12 items.
CLOSED_SMALL = {"mix": {"base_hp": {"k": 2}}, "gfcf": {"k": 2}, "bspm": {"k": 2}, "chebycf": {"k": 2}, "sgfcf": {"k": 2}, "itemknn": {"k": 5},
                "hybrid": {"first_hp": {"k": 2}}}
# Popularity ranks every user's items alike: on the checkerboard all items tie, so it cannot put a user's own block first.
NOT_PERSONAL = {"popularity"}
TRAINED = sorted(name for name, cls in MODELS.items() if not cls.closed_form)


def checkerboard() -> RecData:
    train, test = [], []
    for u in range(N):
        block = range(0, 6) if u < 6 else range(6, 12)
        for i in block:
            (test if i == u else train).append((u, i))
    return RecData.from_pairs(N, N, torch.tensor(train).t(), None, torch.tensor(test).t())


def checkerboard_side() -> SideGraphs:
    """The side graphs agree with the blocks: friendships inside each block of users, and a knowledge graph where
    items 0-5 share entity "a" and items 6-11 entity "b" (global ids: users 0-11, items 12-23, entities 24-25),
    plus one entity-entity fact so relation-aware models see more than one relation."""
    social = [(u, v) for u in range(N) for v in range(N) if u != v and (u < 6) == (v < 6) and (u + v) % 2]
    kg = [(N + i, 0, 2 * N + (0 if i < 6 else 1)) for i in range(N)] + [(2 * N, 1, 2 * N + 1)]
    return SideGraphs(N, N, 2, torch.tensor(social).t(), torch.tensor(kg).t(), ("genre", "related"))


def make(name: str, data: RecData, seed: int = 0, **hparams):
    return build(name, data.n_users, data.n_items, graph=torch.stack(data.train.pairs()), side=checkerboard_side(),
                 seed=seed, **hparams)


def trained(name: str, data: RecData, seed: int = 0, epochs: int = 150):
    if MODELS[name].closed_form:  # fitted once from the interactions (graphrec.closedfit); no dim, no epochs
        return make(name, data, seed, **CLOSED_SMALL.get(name, {})).fit().eval()
    model = make(name, data, seed, **FAST, **SMALL_GRAPH.get(name, {}))
    optimizer = make_optimizer(model, lr=0.05)
    for epoch in range(epochs):
        train_epoch(model, optimizer, data, batch_size=64, generator=torch.Generator().manual_seed(seed + epoch))
    return model.eval()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_contract(name, tmp_path):
    data = checkerboard()
    model = trained(name, data)

    users = torch.arange(N)
    with torch.no_grad():
        user_emb, item_emb = model()
        scores = model.score(users)
    assert user_emb.shape[0] == N and item_emb.shape[0] == N and scores.shape == (N, N)
    if model.dot_product_scores:
        assert torch.allclose(scores, user_emb @ item_emb.t(), atol=1e-5)
    for u in range(N if name not in NOT_PERSONAL else 0):
        other = slice(6, 12) if u < 6 else slice(0, 6)
        assert scores[u, u] > scores[u, other].max(), f"{name}: user {u}'s held-out item is not above the other block"

    path = tmp_path / f"{name}.pt"
    save_model(model, path)
    again = load_model(path, graph=torch.stack(data.train.pairs()), side=checkerboard_side()).eval()
    assert type(again) is type(model) and again.hparams() == model.hparams()
    with torch.no_grad():
        assert torch.equal(again.score(users), scores)

    twin = trained(name, data)
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(twin(), (user_emb, item_emb)))


@pytest.mark.parametrize("name", TRAINED)
def test_loss_is_a_scalar_with_gradients(name):
    data = checkerboard()
    model = make(name, data, **FAST)
    batch = (torch.tensor([0, 7]), torch.tensor([1, 8]), torch.tensor([9, 2]))
    loss = model.loss(batch)
    loss.backward()
    assert loss.dim() == 0 and all(p.grad is not None for p in model.parameters())
    # A loss of several terms names them (Recommender.loss_parts) for the training log; they must add up to it.
    parts = getattr(model, "last_loss_parts", None)
    if parts:
        assert all(v.dim() == 0 and not v.requires_grad for v in parts.values())
        assert torch.allclose(sum(parts.values()), loss.detach(), rtol=1e-5, atol=1e-7), (name, parts, loss)


MULTI_TERM = {"sgl", "simgcl", "xsimgcl", "lightgcl", "ncl", "directau", "ultragcn", "mhcn", "sept", "unigcl", "kgat"}


def test_the_multi_term_losses_name_their_terms():
    data = checkerboard()
    batch = (torch.tensor([0, 7]), torch.tensor([1, 8]), torch.tensor([9, 2]))
    named = set()
    for name in TRAINED:
        model = make(name, data, **FAST)
        model.loss(batch)
        if getattr(model, "last_loss_parts", None):
            named.add(name)
    assert named == MULTI_TERM


def test_lightgcn_batch_loss_equals_the_loss_through_full_propagation():
    from graphrec.models.losses import bpr_loss, l2_reg

    data = checkerboard()
    model = build("lightgcn", N, N, graph=torch.stack(data.train.pairs()), seed=0, dim=8)
    users, pos, neg = torch.tensor([0, 0, 7]), torch.tensor([1, 2, 8]), torch.tensor([9, 9, 2])
    fast = model.loss((users, pos, neg))
    fast.backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    u, i = model()
    slow = bpr_loss((u[users] * i[pos]).sum(1), (u[users] * i[neg]).sum(1)) + \
        model.reg * l2_reg(model.user.weight[users], model.item.weight[pos], model.item.weight[neg])
    slow.backward()
    assert torch.allclose(fast, slow)
    assert all(torch.allclose(a, p.grad, atol=1e-7) for a, p in zip(grads, model.parameters()))


def test_registry_errors_name_the_argument_class_and_value():
    with pytest.raises(ModelError, match="unknown model 'gcn'; choose one of: " + ", ".join(sorted(MODELS))):
        build("gcn", 2, 2)
    with pytest.raises(ModelError, match=r"LightGCN has no hyper-parameter 'layers' \(got layers=4\)"):
        build("lightgcn", 2, 2, graph=torch.tensor([[0], [0]]), layers=4)
    with pytest.raises(ModelError, match="NGCF needs graph="):
        build("ngcf", 2, 2)


def test_load_model_rejects_other_files(tmp_path):
    path = tmp_path / "x.pt"
    torch.save({"hello": 1}, path)
    with pytest.raises(ModelError, match="not a graphrec model file"):
        load_model(path)


@pytest.mark.parametrize("name", sorted(n for n, cls in MODELS.items() if cls.needs_side))
def test_side_graph_models_name_the_missing_edges(name):
    data = checkerboard()
    needs = MODELS[name].needs_side
    with pytest.raises(ModelError, match="needs side="):
        build(name, N, N, graph=torch.stack(data.train.pairs()))
    empty = SideGraphs(N, N, 0)
    with pytest.raises(ModelError, match="social edges" if "social" in needs else "knowledge-graph facts"):
        build(name, N, N, graph=torch.stack(data.train.pairs()), side=empty)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_hyper_parameters_are_declared_once_by_the_constructor(name):
    """What a model reports (hparams(), saved with every run) is exactly its constructor's arguments: the names the
    registry reads from the signature, each with the value it was built with or the signature's default."""
    import inspect

    from graphrec.models import hparam_names

    cls = MODELS[name]
    given = CLOSED_SMALL.get(name, {}) if cls.closed_form else {**FAST, **SMALL_GRAPH.get(name, {})}
    model = make(name, checkerboard(), **given)
    defaults = {p: v.default for p, v in inspect.signature(cls.__init__).parameters.items()}
    assert list(model.hparams()) == hparam_names(cls)
    for key, value in model.hparams().items():
        expected = given.get(key, defaults[key])
        assert value == expected or (isinstance(expected, tuple) and list(expected) == value), \
            f"{name}.hparams()[{key!r}] is {value!r}, built with {expected!r}"
    doc = cls.__dict__.get("__doc__") or ""
    assert doc.strip() and "Defaults:" in doc and "Deviations:" in doc, \
        f"{name}: the class docstring says which paper it follows, then 'Defaults:' and 'Deviations:' from it"
