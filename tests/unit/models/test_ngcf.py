import pytest
import torch

from graphrec.models import build
from graphrec.models.losses import bpr_loss, l2_reg
from tests.unit.conftest import random_pairs


@pytest.mark.parametrize("num_layers", [1, 2, 3])
def test_the_training_step_on_the_batch_rows_equals_the_whole_forward(num_layers):
    # NGCF.loss computes only the batch's rows of the last layer and of the normalised outputs; without dropout
    # it must be the BPR of forward()'s rows, value and gradients.
    pairs = random_pairs(20, 30, 160, seed=5)
    model = build("ngcf", 20, 30, graph=pairs, seed=0, dim=8, num_layers=num_layers, message_dropout=0.0)
    model.train()
    users, pos, neg = torch.tensor([0, 1, 1, 5, 7]), torch.tensor([3, 4, 4, 9, 0]), torch.tensor([2, 2, 8, 1, 3])
    params = list(model.parameters())
    loss = model.loss((users, pos, neg))
    fast = torch.autograd.grad(loss, params)
    user_emb, item_emb = model()
    u = user_emb[users]
    ref = bpr_loss((u * item_emb[pos]).sum(1), (u * item_emb[neg]).sum(1)) + \
        model.reg * l2_reg(model.user(users), model.item(pos), model.item(neg))
    slow = torch.autograd.grad(ref, params)
    assert loss.item() == pytest.approx(ref.item(), rel=1e-6)
    for a, b in zip(fast, slow):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_message_dropout_still_applies_in_the_training_step():
    pairs = random_pairs(20, 30, 160, seed=5)
    model = build("ngcf", 20, 30, graph=pairs, seed=0, dim=8, message_dropout=0.5)
    batch = (torch.tensor([0, 1, 5]), torch.tensor([3, 4, 9]), torch.tensor([2, 8, 1]))
    model.train()
    torch.manual_seed(0)
    a = model.loss(batch)
    torch.manual_seed(1)
    b = model.loss(batch)
    model.eval()
    assert a.item() != b.item()  # different dropout masks
    assert model.loss(batch).item() == model.loss(batch).item()  # no dropout outside training
