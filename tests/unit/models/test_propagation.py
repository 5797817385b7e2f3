import pytest
import torch

from graphrec.compiled.kernels import csr_rows
from graphrec.models.propagation import (csr, lightgcn_propagate, lightgcn_rows, normalized_adjacency,
                                         propagate_layers, propagate_layers_rows, sym_spmm)
from tests.unit.conftest import random_pairs


def tiny_graph(dtype=torch.float64):
    pairs = random_pairs(6, 8, 20, seed=0)
    return normalized_adjacency(pairs[0], pairs[1], 6, 8, dtype=dtype), pairs


def dense_reference(pairs, n_users, n_items):
    n = n_users + n_items
    a = torch.zeros(n, n, dtype=torch.float64)
    a[pairs[0], pairs[1] + n_users] = 1
    a[pairs[1] + n_users, pairs[0]] = 1
    deg = a.sum(1).clamp(min=1)
    return a / deg.sqrt().unsqueeze(1) / deg.sqrt().unsqueeze(0)


def test_normalized_adjacency_matches_the_dense_formula_and_is_symmetric():
    adj, pairs = tiny_graph()
    dense = adj.to_dense()
    assert torch.allclose(dense, dense_reference(pairs, 6, 8))
    assert torch.allclose(dense, dense.t())


@pytest.mark.parametrize("layers", [0, 1, 3])
def test_propagation_equals_dense_and_sparse_mm_products(layers, kernel_path):
    adj, _ = tiny_graph()
    x = torch.randn(14, 4, dtype=torch.float64)
    dense = adj.to_dense()
    expected = sum(torch.linalg.matrix_power(dense, k) @ x for k in range(layers + 1)) / (layers + 1)
    assert torch.allclose(lightgcn_propagate(adj, x, layers), expected)
    assert torch.allclose(sym_spmm(adj, x), torch.sparse.mm(adj.to_sparse_coo(), x))
    rows = torch.tensor([0, 2, 5, 6, 13])
    assert torch.allclose(lightgcn_rows(adj, x, rows, layers), expected[rows])


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_gradients_match_autograd_through_dense_ops(layers, kernel_path):
    adj, _ = tiny_graph()
    x = torch.randn(14, 3, dtype=torch.float64, requires_grad=True)
    rows = torch.tensor([1, 4, 7, 12])
    assert torch.autograd.gradcheck(lambda t: lightgcn_propagate(adj, t, layers), (x,))
    assert torch.autograd.gradcheck(lambda t: lightgcn_rows(adj, t, rows, layers), (x,))
    weights = torch.randn(4, 3, dtype=torch.float64)
    (lightgcn_rows(adj, x, rows, layers) * weights).sum().backward()
    via_rows = x.grad.clone()
    x.grad = None
    dense = adj.to_dense()
    out = sum(torch.linalg.matrix_power(dense, k) @ x for k in range(layers + 1)) / (layers + 1)
    (out[rows] * weights).sum().backward()
    assert torch.allclose(via_rows, x.grad)


def test_csr_rows_selects_rows():
    adj, _ = tiny_graph()
    rows = torch.tensor([3, 0, 9])
    crow, col, val = csr_rows(adj, rows)
    sub = csr(crow, col, val, 3, 14).to_dense()
    assert torch.equal(sub, adj.to_dense()[rows])


@pytest.mark.parametrize("layers", [0, 1, 2, 3])
def test_layers_at_rows_equal_the_full_layers_and_their_gradients(layers, kernel_path):
    adj, _ = tiny_graph()
    x = torch.randn(14, 3, dtype=torch.float64, requires_grad=True)
    rows = torch.tensor([13, 2, 6, 0])
    at_rows = propagate_layers_rows(adj, x, layers, rows)
    full = propagate_layers(adj, x, layers)
    assert len(at_rows) == layers + 1
    assert all(torch.allclose(a, f[rows]) for a, f in zip(at_rows, full))
    if layers:
        assert torch.autograd.gradcheck(lambda t: torch.cat(propagate_layers_rows(adj, t, layers, rows), 1), (x,))


def test_layers_at_rows_draw_the_last_layers_noise_for_those_rows():
    adj, _ = tiny_graph()
    x = torch.randn(14, 3, dtype=torch.float64)
    rows = torch.tensor([1, 5, 9])
    noisy = propagate_layers_rows(adj, x, 2, rows, noise=lambda h: torch.ones_like(h))
    clean = propagate_layers(adj, x, 2)
    assert torch.allclose(noisy[1], clean[1][rows] + 1)
    assert torch.allclose(noisy[2], (adj.to_dense() @ (clean[1] + 1))[rows] + 1)
