"""LTGNN: the implicit one-layer steps reach the PPR fixed point, a step reads and moves only the batch's rows and
their sampled neighbours, the variance-reduced neighbour estimate is Â·E (exactly with all neighbours, on average with
a sample), and training lowers the loss."""

import torch

from graphrec.models import build
from graphrec.models.ltgnn import sample_neighbours
from graphrec.recdata import RecData
from graphrec.train import make_optimizer, train_epoch

N_USERS, N_ITEMS = 8, 6


def tiny_graph() -> torch.Tensor:
    """Every user has 1-4 items; item 0 is popular (degree 6), item 5 has one user."""
    pairs = [(0, 0), (0, 1), (1, 0), (1, 2), (1, 3), (2, 0), (2, 4), (3, 1), (3, 2), (3, 3), (3, 4), (4, 0),
             (5, 0), (5, 5), (6, 2), (7, 0), (7, 3)]
    return torch.tensor(pairs).t()


def model(**hparams):
    return build("ltgnn", N_USERS, N_ITEMS, graph=tiny_graph(), seed=0, **{"dim": 4, **hparams})


def dense_ppr(m) -> torch.Tensor:
    """The fixed point E* = (1-α) Â E* + α E⁰, solved densely."""
    adj = m.adjacency().to_dense()
    n = adj.size(0)
    return torch.linalg.solve(torch.eye(n) - (1 - m.alpha) * adj, m.alpha * m.ego().detach())


def test_one_layer_steps_converge_to_the_ppr_fixed_point():
    m = model(num_neighbors=10)  # at least every degree: each step is one exact Jacobi step
    every = torch.arange(N_USERS + N_ITEMS)
    with torch.no_grad():
        m.fixed_point.zero_()
        for _ in range(80):
            m.step(every)
    assert torch.allclose(m.fixed_point, dense_ppr(m), atol=1e-5)


def test_sampled_steps_with_a_refreshed_memory_converge_too():
    """One neighbour a node: the snapshot's correction shrinks as the stored embeddings settle, so the sampling noise
    does too (variance reduction), and the iteration still reaches the fixed point."""
    m = model(num_neighbors=1)
    every = torch.arange(N_USERS + N_ITEMS)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        m.fixed_point.zero_()
        for step in range(300):
            if step % 5 == 0:
                m.refresh_memory()
            m.step(every, gen)
    assert torch.allclose(m.fixed_point, dense_ppr(m), atol=1e-4)


def test_the_neighbour_estimate_is_exact_with_all_neighbours_and_unbiased_with_a_sample():
    m = model()
    x = torch.randn(N_USERS + N_ITEMS, 3, generator=torch.Generator().manual_seed(1))
    full = m.adjacency().to_dense() @ x
    nodes = torch.tensor([0, 3, 5, N_USERS, N_USERS + 3, N_USERS + 5])

    def estimate(k, gen=None):
        return sample_neighbours(m.adjacency(), nodes, k, gen).to_dense() @ x

    assert torch.allclose(estimate(6), full[nodes], atol=1e-6)  # 6 = the largest degree
    gen = torch.Generator().manual_seed(2)
    mean = sum(estimate(2, gen) for _ in range(20000)) / 20000
    assert torch.allclose(mean, full[nodes], atol=0.02)
    assert not torch.allclose(estimate(2, gen), full[nodes], atol=1e-3)  # a single draw is not exact


def test_a_step_reads_and_moves_only_the_batch_and_its_neighbours():
    m = model(num_neighbors=10)
    batch = (torch.tensor([0, 6]), torch.tensor([1, 2]), torch.tensor([5, 5]))
    rows = torch.tensor([0, 6, N_USERS + 1, N_USERS + 2, N_USERS + 5])
    adj = m.adjacency().to_dense()
    neighbours = torch.unique(torch.cat([rows, adj[rows].nonzero()[:, 1]]))
    untouched = torch.ones(N_USERS + N_ITEMS, dtype=torch.bool)
    untouched[rows] = False
    unread = torch.ones_like(untouched)
    unread[neighbours] = False
    assert unread.any()
    with torch.no_grad():  # whatever a step must not read is NaN: the loss and its gradient stay finite
        for name in ("fixed_point", "snapshot", "grad_memory"):
            getattr(m, name)[unread] = float("nan")
        m.snapshot_agg[untouched] = float("nan")
        m.user.weight[untouched[:N_USERS]] = float("nan")
        m.item.weight[untouched[N_USERS:]] = float("nan")
    before = {name: t.clone() for name, t in m.state_dict().items()}
    optimizer = make_optimizer(m, lr=0.1)
    loss = m.loss(batch)
    loss.backward()
    grad = torch.cat([m.user.weight.grad.to_dense(), m.item.weight.grad.to_dense()])
    assert torch.isfinite(loss) and torch.isfinite(grad).all()
    assert grad[rows].abs().sum(1).gt(0).all() and grad[untouched].eq(0).all()
    optimizer.step()
    after = m.state_dict()
    ego_before = torch.cat([before["user.weight"], before["item.weight"]])
    ego_after = torch.cat([after["user.weight"], after["item.weight"]])
    assert torch.equal(ego_after[untouched].isnan(), ego_before[untouched].isnan())  # NaN rows stayed NaN
    assert not torch.equal(ego_after[rows], ego_before[rows])
    for name in ("fixed_point", "grad_memory"):  # each step writes its rows' estimate and gradient, no others
        changed = ~((after[name] == before[name]) | (after[name].isnan() & before[name].isnan())).all(1)
        assert changed[untouched].sum() == 0 and changed[rows].all(), name


def test_the_implicit_gradient_at_the_fixed_point_is_the_full_ppr_gradient():
    """With every neighbour read and both memories at their fixed points, one step gives E* and the exact
    ∂L/∂E⁰ = α (I - (1-α) Â)⁻¹ ∂L/∂E* of the loss at E*, on the batch's rows."""
    m = model(num_neighbors=10, ego_cut=0.0, reg=0.0)
    every = torch.arange(N_USERS + N_ITEMS)
    star = dense_ppr(m)
    target = torch.randn(N_USERS + N_ITEMS, 4, generator=torch.Generator().manual_seed(3))
    adj = m.adjacency().to_dense()
    exact = m.alpha * torch.linalg.solve(torch.eye(every.numel()) - (1 - m.alpha) * adj, target)
    with torch.no_grad():
        m.fixed_point.copy_(star)
        m.refresh_memory()
        m.grad_memory.copy_(exact)
    z, _ = m.step(every)
    assert torch.allclose(z, star, atol=1e-5)
    (z * target).sum().backward()
    grad = torch.cat([m.user.weight.grad.to_dense(), m.item.weight.grad.to_dense()])
    assert torch.allclose(grad, exact, atol=1e-5)


def test_a_short_training_run_lowers_the_loss():
    data = RecData.from_pairs(N_USERS, N_ITEMS, tiny_graph(), None, None)
    m = model(dim=8)
    optimizer = make_optimizer(m, lr=0.05)
    losses = [train_epoch(m, optimizer, data, batch_size=4, generator=torch.Generator().manual_seed(e))[0]
              for e in range(30)]
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5, losses


def test_training_is_reproducible_under_a_seed_and_a_resumed_run_continues_the_same_curve(tmp_path):
    """The neighbour samples come from the loop's seeded per-epoch RNG, and the fixed-point estimates, the memory and
    SparseAdam's state travel in the checkpoint: one seed, one curve, killed or not."""
    from dataclasses import replace

    from graphrec.train import TrainConfig, fit
    from tests.unit.conftest import random_pairs

    pairs = random_pairs(20, 30, 160, seed=5)
    d = RecData.from_pairs(20, 30, pairs[:, :120], None, pairs[:, 120:]).with_holdout(0.2, seed=0)

    def ltgnn():
        return build("ltgnn", d.n_users, d.n_items, graph=torch.stack(d.train.pairs()), seed=0, dim=8)

    config = TrainConfig(epochs=4, batch_size=16, lr=0.01, progress=False)
    straight = fit(ltgnn(), d, config)
    again = fit(ltgnn(), d, config)
    assert [h["loss"] for h in straight.history] == [h["loss"] for h in again.history]
    assert straight.test == again.test
    fit(ltgnn(), d, replace(config, epochs=2), run_dir=tmp_path / "r")
    trained = []
    resumed = fit(ltgnn(), d, config, run_dir=tmp_path / "r", callback=lambda record: trained.append(record["epoch"]))
    assert trained == [3, 4]
    assert resumed.history[-1]["loss"] == straight.history[-1]["loss"] and resumed.test == straight.test
