"""BPR with many sampled negatives per positive (``num_negatives`` of MF, the BARS leaderboard's MF-BPR, and of
LightGCN and NGCF), against naive loops."""

import math

import pytest
import torch

from graphrec.errors import ModelError
from graphrec.models import build
from graphrec.models.losses import bpr_loss, l2_reg
from graphrec.models.negatives import sampled_bpr, sampled_l2
from graphrec.train import make_optimizer, train_epoch
from tests.unit.conftest import random_pairs
from tests.unit.models.test_contract import FAST, N, checkerboard

NU, NI = 5, 9


def test_many_negatives_loss_is_mean_bpr_over_the_drawn_items_plus_l2(kernel_path):
    model = build("mf", NU, NI, seed=0, dim=4, reg=0.3, num_negatives=6).double()
    users, pos = torch.tensor([0, 3, 3, 1]), torch.tensor([2, 2, 8, 0])
    torch.manual_seed(5)
    loss = model.loss((users, pos, None))
    torch.manual_seed(5)  # the same draws the loss made
    sampled = torch.randint(NI, (4, 6))
    u, it = model.user.weight.detach(), model.item.weight.detach()
    bpr, reg = 0.0, 0.0
    for b in range(4):
        s_pos = float(u[users[b]] @ it[pos[b]])
        for j in sampled[b].tolist():
            bpr += math.log1p(math.exp(float(u[users[b]] @ it[j]) - s_pos))
        reg += float(u[users[b]] @ u[users[b]]) + float(it[pos[b]] @ it[pos[b]]) + \
            sum(float(it[j] @ it[j]) for j in sampled[b].tolist()) / 6
    expected = bpr / 24 + 0.3 * 0.5 * reg / 4
    assert loss.item() == pytest.approx(expected, rel=1e-10)
    loss.backward()
    assert model.user.weight.grad[2].abs().sum() == 0 and model.item.weight.grad.abs().sum() > 0


def test_one_negative_is_the_classic_bpr_step_with_the_loops_negative():
    model = build("mf", NU, NI, seed=0, dim=4)
    assert model.hparams()["num_negatives"] == 1
    batch = (torch.tensor([0, 1]), torch.tensor([2, 3]), torch.tensor([4, 5]))
    assert torch.equal(model.loss(batch), model.loss(batch))  # no draws of its own


@pytest.mark.parametrize("name", ["mf", "lightgcn", "ngcf"])
def test_many_negatives_learns_the_checkerboard(name):
    data = checkerboard()
    model = build(name, N, N, graph=torch.stack(data.train.pairs()), seed=0, num_negatives=8, **FAST)
    optimizer = make_optimizer(model, lr=0.05)
    for epoch in range(100):
        train_epoch(model, optimizer, data, batch_size=64, generator=torch.Generator().manual_seed(epoch))
    with torch.no_grad():
        scores = model.eval().score(torch.arange(N))
    for u in range(N):
        other = slice(6, 12) if u < 6 else slice(0, 6)
        assert scores[u, u] > scores[u, other].max()


@pytest.mark.parametrize("name", ["mf", "lightgcn", "ngcf"])
def test_num_negatives_below_one_is_refused(name):
    with pytest.raises(ModelError, match="num_negatives must be >= 1, got 0"):
        build(name, NU, NI, graph=random_pairs(NU, NI, 20, seed=1), num_negatives=0)


def test_one_sampled_negative_is_plain_bpr_and_l2():
    gen = torch.Generator().manual_seed(0)
    u, p, items = torch.randn(4, 3, generator=gen), torch.randn(4, 3, generator=gen), torch.randn(7, 3, generator=gen)
    neg = torch.randint(7, (4, 1), generator=gen)
    n = items[neg[:, 0]]
    assert sampled_bpr(u, p, items, neg).item() == pytest.approx(bpr_loss((u * p).sum(1), (u * n).sum(1)).item())
    assert sampled_l2(u, p, items, neg).item() == pytest.approx(l2_reg(u, p, n).item())


@pytest.mark.parametrize("name, extra", [("lightgcn", {}), ("ngcf", {"message_dropout": 0.0})])
def test_graph_models_score_many_negatives_against_the_propagated_items(kernel_path, name, extra):
    graph = random_pairs(NU, NI, 20, seed=1)
    model = build(name, NU, NI, graph=graph, seed=0, dim=4, reg=0.2, num_negatives=5, **extra).double()
    users, pos = torch.tensor([0, 4, 2]), torch.tensor([1, 1, 6])
    torch.manual_seed(3)
    loss = model.loss((users, pos, None))
    torch.manual_seed(3)
    sampled = torch.randint(NI, (3, 5))
    with torch.no_grad():
        user_out, item_out = model()  # full propagation, the reference
    ue, ie = model.user.weight.detach(), model.item.weight.detach()
    bpr, reg = 0.0, 0.0
    for b in range(3):
        s_pos = float(user_out[users[b]] @ item_out[pos[b]])
        bpr += sum(math.log1p(math.exp(float(user_out[users[b]] @ item_out[j]) - s_pos)) for j in sampled[b].tolist())
        reg += float(ue[users[b]] @ ue[users[b]]) + float(ie[pos[b]] @ ie[pos[b]]) + \
            sum(float(ie[j] @ ie[j]) for j in sampled[b].tolist()) / 5
    assert loss.item() == pytest.approx(bpr / 15 + 0.2 * 0.5 * reg / 3, rel=1e-10)
    loss.backward()
    assert model.user.weight.grad.abs().sum() > 0

