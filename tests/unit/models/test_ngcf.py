import pytest
import torch

from graphrec.compiled import fused
from graphrec.models import build
from graphrec.models.losses import bpr_loss, l2_reg
from tests.unit.conftest import random_pairs


@pytest.mark.parametrize("variant", ["paper", "code"])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
def test_the_training_step_on_the_batch_rows_equals_the_whole_forward(kernel_path, num_layers, variant):
    # NGCF.loss computes only the batch's rows of the last layer and of the normalised outputs; without dropout
    # it must be the BPR of forward()'s rows, value and gradients.
    pairs = random_pairs(20, 30, 160, seed=5)
    model = build("ngcf", 20, 30, graph=pairs, seed=0, dim=8, num_layers=num_layers, message_dropout=0.0,
                  variant=variant)
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


def _dense_ngcf(model, pairs, variant):
    """NGCF's forward written out with dense matrices, from the formulas (eq. 7, or the authors' TF code)."""
    import torch.nn.functional as F

    n_users, n = model.n_users, model.n_users + model.n_items
    a = torch.zeros(n, n)
    a[pairs[0], pairs[1] + n_users] = 1.0
    a[pairs[1] + n_users, pairs[0]] = 1.0
    if variant == "code":  # D̃⁻¹(A + I)
        prop = (a + torch.eye(n)) / (a.sum(1, keepdim=True) + 1)
    else:  # D^-½ A D^-½, then + I in the W1 message
        d = a.sum(1).clamp(min=1).pow(-0.5)
        prop = d[:, None] * a * d[None, :]
    h = torch.cat([model.user.weight, model.item.weight])
    outs = [h]
    for w1, w2 in zip(model.w1, model.w2):
        side = prop @ h
        if variant == "code":
            h = F.leaky_relu(side @ w1.weight.T + w1.bias, 0.2) + F.leaky_relu((h * side) @ w2.weight.T + w2.bias, 0.2)
        else:
            h = F.leaky_relu((side + h) @ w1.weight.T + w1.bias + (h * side) @ w2.weight.T + w2.bias, 0.2)
        outs.append(F.normalize(h, dim=1))
    out = torch.cat(outs, 1)
    return out[:n_users], out[n_users:]


@pytest.mark.parametrize("variant", ["paper", "code"])
def test_forward_matches_the_formulas_written_out_densely(kernel_path, variant):
    pairs = random_pairs(20, 30, 160, seed=5)
    model = build("ngcf", 20, 30, graph=pairs, seed=0, dim=8, message_dropout=0.0, variant=variant).eval()
    with torch.no_grad():
        for got, want in zip(model(), _dense_ngcf(model, pairs, variant)):
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    biases = torch.cat([lin.bias for lin in [*model.w1, *model.w2]])
    assert (biases != 0).all() if variant == "code" else (biases == 0).all()  # TF code: Xavier-initialised biases


def test_an_unknown_variant_is_refused():
    from graphrec.errors import ModelError

    with pytest.raises(ModelError, match="variant"):
        build("ngcf", 20, 30, graph=random_pairs(20, 30, 160, seed=5), variant="tf")


def _reference_layer(side, h, w1, b1, w2, b2, code, keep, p):
    import torch.nn.functional as F

    if code:
        out = F.leaky_relu(side @ w1.T + b1, 0.2) + F.leaky_relu((side * h) @ w2.T + b2, 0.2)
    else:
        out = F.leaky_relu((side + h) @ w1.T + b1 + (side * h) @ w2.T + b2, 0.2)
    return out * keep / (1 - p)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("code", [True, False])
@pytest.mark.parametrize("p", [0.0, 0.3])
def test_the_fused_layer_equals_torch_with_the_same_dropout_mask(code, p, dtype):
    from graphrec.models.ngcf import NGCFLayer

    gen = torch.Generator().manual_seed(3)
    args = [torch.randn(shape, dtype=dtype, generator=gen).requires_grad_()
            for shape in [(12, 5), (12, 5), (5, 5), (5,), (5, 5), (5,)]]
    out = NGCFLayer.apply(*args, code, p, 1234)
    keep = fused.dropout_keep(12, 5, p, 1234)
    ref = _reference_layer(*args, code, keep, p)
    torch.testing.assert_close(out, ref)
    grad = torch.randn(12, 5, dtype=dtype, generator=gen)
    for got, want in zip(torch.autograd.grad(out, args, grad), torch.autograd.grad(ref, args, grad)):
        torch.testing.assert_close(got, want)
    if dtype == torch.float64:
        assert torch.autograd.gradcheck(lambda *a: NGCFLayer.apply(*a, code, p, 1234), args)


@pytest.mark.parametrize("variant", ["paper", "code"])
def test_the_cpu_training_step_takes_the_fused_layer(variant, monkeypatch):
    from graphrec.models import ngcf

    calls = []
    apply = ngcf.NGCFLayer.apply
    monkeypatch.setattr(ngcf.NGCFLayer, "apply", lambda *a: calls.append(1) or apply(*a))
    model = build("ngcf", 20, 30, graph=random_pairs(20, 30, 160, seed=5), seed=0, dim=8, variant=variant).train()
    model.loss((torch.tensor([0, 1]), torch.tensor([3, 4]), torch.tensor([2, 8]))).backward()
    assert len(calls) == model.num_layers


@pytest.mark.parametrize("variant", ["paper", "code"])
def test_node_dropout_drops_the_same_edges_in_the_fused_the_torch_and_the_row_block_paths(variant, monkeypatch):
    # With node dropout only (no message dropout), a fixed seed draws the same edges on every path, so the batch rows
    # step, the whole forward and the torch fallback must agree; dropping edges must also change the loss.
    pairs = random_pairs(20, 30, 160, seed=5)
    model = build("ngcf", 20, 30, graph=pairs, seed=0, dim=8, message_dropout=0.0, node_dropout=0.4,
                  variant=variant).train()
    batch = (torch.tensor([0, 1, 1, 5]), torch.tensor([3, 4, 9, 0]), torch.tensor([2, 2, 8, 1]))
    params = list(model.parameters())

    def rows_step():
        torch.manual_seed(11)
        loss = model.loss(batch)
        return loss, torch.autograd.grad(loss, params)

    def whole_step():
        torch.manual_seed(11)
        user_emb, item_emb = model()
        u = user_emb[batch[0]]
        loss = bpr_loss((u * item_emb[batch[1]]).sum(1), (u * item_emb[batch[2]]).sum(1)) + \
            model.reg * l2_reg(model.user(batch[0]), model.item(batch[1]), model.item(batch[2]))
        return loss, torch.autograd.grad(loss, params)

    runs = [rows_step(), whole_step()]
    monkeypatch.setattr(fused, "elementwise_fast", lambda *tensors: False)
    runs.append(rows_step())
    for loss, grads in runs[1:]:
        assert loss.item() == pytest.approx(runs[0][0].item(), rel=1e-6)
        for a, b in zip(grads, runs[0][1]):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    model.node_dropout = 0.0
    assert model.loss(batch).item() != pytest.approx(runs[0][0].item(), rel=1e-6)
    if variant == "code":  # the backward multiplies by P_t: it must stay P's transpose when edges are dropped
        model.node_dropout = 0.4
        torch.manual_seed(11)
        p, p_t = model._graph()
        assert torch.equal(p_t.to_dense(), p.to_dense().T)
        assert (p.values() == 0).any()


def test_dropout_rates_outside_zero_to_one_are_refused():
    from graphrec.errors import ModelError

    for kwargs in ({"message_dropout": 1.0}, {"node_dropout": -0.1}):
        with pytest.raises(ModelError, match="dropout"):
            build("ngcf", 20, 30, graph=random_pairs(20, 30, 160, seed=5), **kwargs)


def test_mean_aggregation_and_its_row_block_have_the_right_gradients():
    from graphrec.models.ngcf import MeanAggregate

    pairs = random_pairs(6, 7, 20, seed=2)
    model = build("ngcf", 6, 7, graph=pairs, seed=0, dim=4, variant="code").double()
    p, p_t = (model.adjacency(v.double()) for v in (model.agg_val, model.agg_val_t))
    inv_deg = model.inv_deg.double()
    a = torch.zeros(13, 13, dtype=torch.float64)
    a[pairs[0], pairs[1] + 6] = a[pairs[1] + 6, pairs[0]] = 1.0
    mean = (a + torch.eye(13, dtype=torch.float64)) / (a.sum(1, keepdim=True) + 1)  # D̃⁻¹(A + I)
    x = torch.randn(13, 3, dtype=torch.float64, requires_grad=True)
    rows = torch.tensor([12, 0, 7])
    tol = {"rtol": 1e-6, "atol": 1e-7}  # the model's buffers were computed in float32
    torch.testing.assert_close(MeanAggregate.apply(p, p_t, inv_deg, x), mean @ x, **tol)
    torch.testing.assert_close(MeanAggregate.apply(p, p_t, inv_deg, x, rows), (mean @ x)[rows], **tol)
    assert torch.autograd.gradcheck(lambda t: MeanAggregate.apply(p, p_t, inv_deg, t), [x])
    assert torch.autograd.gradcheck(lambda t: MeanAggregate.apply(p, p_t, inv_deg, t, rows), [x])


def test_seeded_dropout_is_reproducible_in_the_fused_step():
    pairs = random_pairs(20, 30, 160, seed=5)
    model = build("ngcf", 20, 30, graph=pairs, seed=0, dim=8, message_dropout=0.3, variant="code").train()
    batch = (torch.tensor([0, 1, 5]), torch.tensor([3, 4, 9]), torch.tensor([2, 8, 1]))
    losses = []
    for seed in (0, 0, 1):
        torch.manual_seed(seed)
        losses.append(model.loss(batch).item())
    assert losses[0] == losses[1] != losses[2]
