import subprocess
import sys
from pathlib import Path

import pytest
import torch

from graphrec.compiled import kernels
from graphrec.models.propagation import csr, normalized_adjacency
from tests.unit.conftest import cache_hits_in_two_processes, random_pairs


def random_csr(n_rows, n_cols, density, dtype, index_dtype, seed):
    gen = torch.Generator().manual_seed(seed)
    dense = torch.rand(n_rows, n_cols, generator=gen, dtype=torch.float64)
    dense = torch.where(dense < density, torch.randn(n_rows, n_cols, generator=gen, dtype=torch.float64), 0.0)
    dense[1] = 0  # an empty row
    rows, cols = dense.nonzero(as_tuple=True)  # row-major order: sorted by (row, col)
    crow = torch.zeros(n_rows + 1, dtype=torch.long)
    torch.cumsum(torch.bincount(rows, minlength=n_rows), 0, out=crow[1:])
    return csr(crow.to(index_dtype), cols.to(index_dtype), dense[rows, cols].to(dtype), n_rows, n_cols), dense.to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("index_dtype", [torch.int32, torch.int64])
@pytest.mark.parametrize("dim", [1, 3, 70])
def test_spmm_equals_the_dense_product(kernel_path, dtype, index_dtype, dim):
    adj, dense = random_csr(40, 40, 0.2, dtype, index_dtype, seed=dim)
    x = torch.randn(40, dim, dtype=dtype)
    tol = {"atol": 1e-5, "rtol": 1e-5} if dtype == torch.float32 else {}
    assert torch.allclose(kernels.spmm(adj, x), dense @ x, **tol)
    out = torch.full((40, dim), float("nan"), dtype=dtype)
    assert kernels.spmm(adj, x, out=out) is out
    assert torch.allclose(out, dense @ x, **tol)
    rows = torch.tensor([7, 0, 39, 1])
    add = torch.randn(4, dim, dtype=dtype)
    expected = dense @ x
    expected[rows] += add
    got = kernels.spmm(adj, x, add=add, rows=rows, slot=kernels.row_slots(rows, 40))
    assert torch.allclose(got, expected, **tol)


def test_spmm_adds_the_diagonal_term(kernel_path):
    adj, dense = random_csr(40, 40, 0.2, torch.float64, torch.int32, seed=4)
    x = torch.randn(40, 6, dtype=torch.float64)
    diag = torch.randn(40, dtype=torch.float64)
    assert torch.allclose(kernels.spmm(adj, x, diag=diag), (dense + torch.diag(diag)) @ x)
    rows = torch.tensor([3, 1, 38])
    add = torch.randn(3, 6, dtype=torch.float64)
    expected = (dense + torch.diag(diag)) @ x
    expected[rows] += add
    assert torch.allclose(kernels.spmm(adj, x, add=add, rows=rows, slot=kernels.row_slots(rows, 40), diag=diag),
                          expected)
    with pytest.raises(ValueError, match="diag"):
        kernels.spmm(adj, x, diag=diag[:-1])


def test_spmm_from_rows_takes_any_matrix(kernel_path):
    # a non-symmetric matrix: the product with X scattered to rows, not a transpose of adj's row block
    adj, dense = random_csr(30, 30, 0.3, torch.float64, torch.int32, seed=2)
    rows = torch.tensor([5, 0, 29, 12])
    x_rows = torch.randn(4, 3, dtype=torch.float64)
    scattered = torch.zeros(30, 3, dtype=torch.float64).index_copy_(0, rows, x_rows)
    adj_t = dense.t().contiguous().to_sparse_csr()  # the torch fallback reads the transpose's row block
    got = kernels.spmm_from_rows(adj, x_rows, rows, kernels.row_slots(rows, 30), adj_t=adj_t)
    assert torch.allclose(got, dense @ scattered)


def test_spmm_takes_non_contiguous_input(kernel_path):
    adj, dense = random_csr(30, 30, 0.3, torch.float64, torch.int32, seed=1)
    x = torch.randn(8, 30, dtype=torch.float64).t()
    assert torch.allclose(kernels.spmm(adj, x), dense @ x)


def test_rows_products_equal_the_dense_ones(kernel_path):
    pairs = random_pairs(9, 12, 50, seed=3)
    adj = normalized_adjacency(pairs[0], pairs[1], 9, 12, dtype=torch.float64)  # symmetric, as required
    dense = adj.to_dense()
    rows = torch.tensor([20, 3, 0, 11])
    x = torch.randn(21, 5, dtype=torch.float64)
    out = torch.randn(4, 5, dtype=torch.float64)
    expected = out + dense[rows] @ x
    assert torch.allclose(kernels.spmm_rows_add_(out, adj, x, rows), expected)
    assert torch.allclose(out, expected)
    x_rows = torch.randn(4, 5, dtype=torch.float64)
    scattered = torch.zeros(21, 5, dtype=torch.float64).index_copy_(0, rows, x_rows)
    slot = kernels.row_slots(rows, 21)
    assert torch.allclose(kernels.spmm_from_rows(adj, x_rows, rows, slot), dense @ scattered)
    add = torch.randn(4, 5, dtype=torch.float64)
    added = torch.zeros(21, 5, dtype=torch.float64).index_copy_(0, rows, add)
    assert torch.allclose(kernels.spmm_from_rows(adj, x_rows, rows, slot, add=add), dense @ scattered + added)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_rowwise_gram_equals_each_rows_weighted_gram(kernel_path, dtype):
    adj, dense = random_csr(9, 14, 0.4, dtype, torch.int64, seed=5)
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(9, 6, generator=gen, dtype=dtype), torch.randn(14, 6, generator=gen, dtype=dtype)
    expected = torch.stack([(y.t() * dense[r]) @ y @ x[r] for r in range(9)])  # Σ_c adj[r, c] y_c y_cᵀ x_r
    assert torch.allclose(kernels.rowwise_gram(adj, x, y), expected, atol=1e-4 if dtype == torch.float32 else 1e-10)


def test_row_slots_invert_the_rows():
    slot = kernels.row_slots(torch.tensor([4, 1, 6]), 8)
    assert slot.tolist() == [-1, 1, -1, -1, 0, -1, 2, -1]


def test_results_do_not_depend_on_the_thread_count():
    adj, _ = random_csr(500, 500, 0.05, torch.float32, torch.int32, seed=5)
    x = torch.randn(500, 64)
    torch.set_num_threads(1)
    one = kernels.spmm(adj, x)
    torch.set_num_threads(2)
    assert torch.equal(kernels.spmm(adj, x), one)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gathered_dots_and_their_gradients_equal_the_gathered_product(kernel_path, dtype):
    gen = torch.Generator().manual_seed(4)
    u = torch.randn(7, 5, generator=gen, dtype=dtype)
    table = torch.randn(11, 5, generator=gen, dtype=dtype)
    idx = torch.randint(11, (7, 30), generator=gen)  # 30 draws of 11 rows: every row repeats, within and across b
    idx[0] = 3  # one batch row drawing the same table row every time
    grad = torch.randn(7, 30, generator=gen, dtype=dtype)
    tol = {"atol": 1e-5, "rtol": 1e-5} if dtype == torch.float32 else {}
    u_ref, table_ref = u.clone().requires_grad_(), table.clone().requires_grad_()
    expected = torch.einsum("bd,bnd->bn", u_ref, table_ref[idx])
    expected.backward(grad)
    assert torch.allclose(kernels.gathered_dots(u, table, idx), expected.detach(), **tol)
    grad_u, grad_table = kernels.gathered_dots_backward(u, table, idx, grad)
    assert torch.allclose(grad_u, u_ref.grad, **tol) and torch.allclose(grad_table, table_ref.grad, **tol)


def test_gathered_dots_backward_does_not_depend_on_the_thread_count():
    gen = torch.Generator().manual_seed(6)
    u, table = torch.randn(301, 64, generator=gen), torch.randn(500, 64, generator=gen)
    idx, grad = torch.randint(500, (301, 200), generator=gen), torch.randn(301, 200, generator=gen)
    torch.set_num_threads(1)
    one = kernels.gathered_dots_backward(u, table, idx, grad)
    torch.set_num_threads(2)
    two = kernels.gathered_dots_backward(u, table, idx, grad)
    assert all(torch.equal(a, b) for a, b in zip(one, two))


def test_chunks_cover_every_row_once():
    crow = torch.tensor([0, 0, 5, 5, 6, 100, 100]).numpy()  # skewed degrees and empty rows
    for threads in (1, 2, 7):
        bounds = kernels._bounds(crow, threads)
        assert bounds[0] == 0 and bounds[-1] == len(crow) - 1
        assert (bounds[1:] > bounds[:-1]).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_topk_indices_equal_torch_topk(dtype):
    scores = torch.randn(37, 300, dtype=dtype)
    scores[:, ::3] = -torch.inf  # masked items, as evaluation masks known positives
    for k in (1, 20, 100):
        assert torch.equal(kernels.topk_indices(scores, k), torch.topk(scores, k, dim=1, sorted=True).indices)


def test_topk_indices_break_ties_towards_the_lower_column_and_fill_with_minus_inf():
    scores = torch.tensor([[0.5, 1.0, 0.5, 1.0, 0.2], [-torch.inf] * 5])
    assert kernels.topk_indices(scores, 3).tolist()[0] == [1, 3, 0]
    assert kernels.topk_indices(scores, 5).tolist() == [[1, 3, 0, 2, 4], [0, 1, 2, 3, 4]]
    with pytest.raises(ValueError, match="k=6 exceeds the 5 columns"):
        kernels.topk_indices(scores, 6)


def test_topk_indices_falls_back_to_torch_for_other_dtypes():
    scores = torch.randn(4, 50).to(torch.bfloat16)
    assert torch.equal(kernels.topk_indices(scores, 5), torch.topk(scores, 5, dim=1).indices)


def test_trusted_sparse_tensors_are_built_without_a_warning():
    # torch warns once per process that invariant checks are "implicitly disabled" (2.11 even with
    # check_invariants=False), so only a fresh process shows whether csr and coo opt out explicitly enough.
    code = ("import torch\nfrom graphrec.compiled import kernels\n"
            "kernels.csr(torch.tensor([0, 1, 2]), torch.tensor([1, 0]), torch.ones(2), 2)\n"
            "kernels.coo(torch.tensor([[0, 1], [1, 0]]), torch.ones(2), (2, 2))")
    subprocess.run([sys.executable, "-W", "error", "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])


def test_the_loops_leave_torchs_thread_count_alone():
    # numba's OpenMP pool, started on first use, resets the OpenMP thread count torch reads: checked in a fresh
    # process, where the pool really starts.
    code = ("import torch\nfrom graphrec.compiled import kernels\ntorch.set_num_threads(1)\n"
            "kernels.spmm(torch.eye(3).to_sparse_csr(), torch.randn(3, 2))\nprint(torch.get_num_threads())")
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "1"


def test_the_compiled_loops_load_from_numba_cache_in_the_next_process(tmp_path):
    # the second process must load the first one's compiled code (see cache_hits_in_two_processes)
    code = ("import torch; from graphrec.compiled import kernels; "
            "kernels.spmm(torch.eye(4).to_sparse_csr(), torch.ones(4, 3)); "
            "kernels.gathered_dots(torch.ones(2, 3), torch.ones(5, 3), torch.zeros(2, 4, dtype=torch.long)); "
            "loops = kernels._compiled(); "
            "print(sum(loops.spmm.stats.cache_hits.values()), sum(loops.gathered_dots.stats.cache_hits.values()))")
    first, second = cache_hits_in_two_processes(code, tmp_path)
    assert first == ["0", "0"]  # compiled, into the fresh cache folder
    assert second == ["1", "1"]
