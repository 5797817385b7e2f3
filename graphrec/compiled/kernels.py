"""CPU loops compiled by numba for the hot spots: the products with the normalised adjacency Â that dominate
training, the top-K of full-ranking evaluation, and the scores of many sampled items per user (UltraGCN).

On the CPU a step of LightGCN is mostly ``Â @ X`` (a CSR matrix times a dense (N, d) block). torch hands that to
MKL, which on this project's 2-core machine took 17.8 ms for Gowalla's Â (70,839 nodes, 1.62 M entries, d = 64);
the row loop below takes ~9 ms (see benchmarks/HISTORY.md): each output row accumulates in a small local buffer and is
written once, rows are split between threads by equal numbers of entries (users and items differ a lot in degree),
and the row of X that an entry 16 places ahead will read is prefetched, so the random reads of X overlap.
The loops also fuse the small extras of LightGCN's backward (adding the batch's gradient rows, a product whose input
is non-zero only on the batch's rows), which torch would do as separate passes over (N, d) buffers. The top-K loop
reads each score once and keeps a sorted list of K (torch.topk is ~2.5x slower for K=20 of 40,981 items).

Every function takes and returns torch tensors and falls back to torch for what the loops do not cover (CUDA tensors,
other layouts or dtypes), so callers never branch. Results equal torch's up to float rounding; each output row is
summed in a fixed order, so they do not depend on the thread count. (NGCF's fused layer loops are in
:mod:`graphrec.compiled.fused`.)
"""

from __future__ import annotations

import functools
import warnings
from types import SimpleNamespace

import numpy as np
import torch
from torch import Tensor

# Row chunks per thread: enough to even out the last chunk's tail, few enough that scheduling stays free.
_CHUNKS_PER_THREAD = 32
_EMPTY_I = np.empty(0, np.int64)
# How many entries ahead the products ask for the row of X they will read (see _prefetch_intrinsic): far enough that
# the row arrives before it is needed, near enough that it is still cached then. 16-24 measured best on Gowalla.
_PREFETCH_AHEAD = 16
# Built with the loops. Module globals, not closure variables: numba keys its on-disk cache on a hash of a loop's
# closure, and a pickled intrinsic or dispatcher differs in every process, so closing over them would recompile
# every loop in every process (tests/unit/test_kernels.py checks the cache is hit).
_prefetch = None  # the llvm.prefetch intrinsic
_prefetch_row = None  # prefetch_row(x, col, q): every cache line of row x[col[q]], if entry q exists


def _prefetch_intrinsic():
    """``prefetch(x, i, k)``: a hint to the CPU to start loading ``x[i, k]``'s cache line (LLVM's ``llvm.prefetch``,
    read, high locality). It changes no value and never faults.

    The products below read one row of X per entry of Â, at random: the row of the next entry cannot be guessed by
    the hardware, so without the hint every row costs a full cache-miss latency, one after another. Asking for the
    row ``_PREFETCH_AHEAD`` entries ahead overlaps those misses: Gowalla's Â @ X went from ~25 to ~9 ms at 2 threads
    (benchmarks/HISTORY.md)."""
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic

    @intrinsic
    def prefetch(typingctx, arr, i, k):
        def codegen(context, builder, signature, args):
            arr_ty, i_ty, k_ty = signature.args
            ary = context.make_array(arr_ty)(context, builder, args[0])
            inds = [context.cast(builder, args[1], i_ty, types.intp), context.cast(builder, args[2], k_ty, types.intp)]
            ptr = cgutils.get_item_pointer2(context, builder, data=ary.data,
                                            shape=cgutils.unpack_tuple(builder, ary.shape),
                                            strides=cgutils.unpack_tuple(builder, ary.strides),
                                            layout=arr_ty.layout, inds=inds)
            i8p = ir.IntType(8).as_pointer()
            i32 = ir.IntType(32)
            fn = builder.module.declare_intrinsic("llvm.prefetch", [i8p],
                                                  ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]))
            # rw 0 (read), locality 3 (keep in all cache levels), cache type 1 (data)
            builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
            return context.get_dummy_value()

        return types.void(arr, i, k), codegen

    return prefetch


@functools.cache
def _compiled():
    """Compile (or load from numba's cache) the loops on first use: importing numba costs ~0.3 s, so the CLI and
    the database-only paths never pay for it."""
    import numba
    from numba import njit, prange

    # Starting numba's OpenMP pool sets OpenMP's thread count to NUMBA_NUM_THREADS, and torch reads the same setting:
    # a process told to use 1 thread (torch.set_num_threads, --threads) would silently run torch on all cores.
    # Start the pool now and put torch's count back.
    threads = torch.get_num_threads()
    numba.get_num_threads()
    torch.set_num_threads(threads)

    global _prefetch, _prefetch_row
    _prefetch = _prefetch_intrinsic()
    jit = njit(parallel=True, fastmath=True, cache=True, nogil=True)

    @njit(fastmath=True, cache=True, nogil=True, inline="always")
    def prefetch_row(x, col, q):
        if q < col.size:
            c = col[q]
            for k in range(0, x.shape[1], max(1, 64 // x.itemsize)):
                _prefetch(x, c, k)

    _prefetch_row = prefetch_row

    @jit
    def spmm(crow, col, val, x, out, add, slot, diag, bounds):
        # out[r] = sum_p val[p] * x[col[p]]  (+ add[slot[r]] where slot[r] >= 0)  (+ diag[r] * x[r] if diag given)
        d = out.shape[1]
        with_add = add.shape[0] > 0
        with_diag = diag.size > 0
        for chunk in prange(bounds.size - 1):
            acc = np.empty(d, out.dtype)
            for r in range(bounds[chunk], bounds[chunk + 1]):
                if with_add and slot[r] >= 0:
                    acc[:] = add[slot[r]]
                else:
                    acc[:] = 0
                if with_diag:
                    w = diag[r]
                    for k in range(d):
                        acc[k] += w * x[r, k]
                for p in range(crow[r], crow[r + 1]):
                    _prefetch_row(x, col, p + _PREFETCH_AHEAD)
                    c = col[p]
                    v = val[p]
                    for k in range(d):
                        acc[k] += v * x[c, k]
                for k in range(d):
                    out[r, k] = acc[k]

    @jit
    def spmm_sparse_input(crow, col, val, x_rows, slot, out, add, bounds):
        # Like spmm for the input X with X[c] = x_rows[slot[c]] where slot[c] >= 0, zero rows elsewhere (separate
        # from spmm: a branch per entry there costs ~30% of its time).
        d = out.shape[1]
        with_add = add.shape[0] > 0
        for chunk in prange(bounds.size - 1):
            acc = np.empty(d, out.dtype)
            for r in range(bounds[chunk], bounds[chunk + 1]):
                if with_add and slot[r] >= 0:
                    acc[:] = add[slot[r]]
                else:
                    acc[:] = 0
                for p in range(crow[r], crow[r + 1]):
                    j = slot[col[p]]
                    if j >= 0:
                        v = val[p]
                        for k in range(d):
                            acc[k] += v * x_rows[j, k]
                for k in range(d):
                    out[r, k] = acc[k]

    @jit
    def spmm_rows_add(crow, col, val, x, rows, out):
        # out[j] += sum_p val[p] * x[col[p]] over the entries of row rows[j].
        d = out.shape[1]
        for j in prange(rows.size):
            r = rows[j]
            acc = np.zeros(d, out.dtype)
            for p in range(crow[r], crow[r + 1]):
                _prefetch_row(x, col, p + _PREFETCH_AHEAD)
                v = val[p]
                c = col[p]
                for k in range(d):
                    acc[k] += v * x[c, k]
            for k in range(d):
                out[j, k] += acc[k]

    @jit
    def rowwise_gram(crow, col, val, x, y, out, bounds):
        # out[r] = sum_p val[p] * (x[r] · y[col[p]]) * y[col[p]]: each row's x times the Gram of the y rows its entries
        # name (iALS's per-user systems), without gathering an (entries, d) block.
        d = out.shape[1]
        for chunk in prange(bounds.size - 1):
            acc = np.empty(d, out.dtype)
            for r in range(bounds[chunk], bounds[chunk + 1]):
                acc[:] = 0
                for p in range(crow[r], crow[r + 1]):
                    _prefetch_row(y, col, p + _PREFETCH_AHEAD)
                    c = col[p]
                    s = x[r, 0] * y[c, 0]
                    for k in range(1, d):
                        s += x[r, k] * y[c, k]
                    s *= val[p]
                    for k in range(d):
                        acc[k] += s * y[c, k]
                for k in range(d):
                    out[r, k] = acc[k]

    @jit
    def topk(scores, k, out):
        # Per row, the k largest scores' columns, largest first (ties: lower column first): one pass that keeps a
        # sorted list of k; a score only costs a comparison unless it beats the list's smallest.
        n = scores.shape[1]
        for r in prange(scores.shape[0]):
            vals = np.empty(k, scores.dtype)
            idx = out[r]
            count = 0
            for j in range(n):
                v = scores[r, j]
                if count == k and not v > vals[k - 1]:
                    continue
                pos = count if count < k else k - 1
                while pos > 0 and vals[pos - 1] < v:
                    if pos < k:
                        vals[pos] = vals[pos - 1]
                        idx[pos] = idx[pos - 1]
                    pos -= 1
                vals[pos] = v
                idx[pos] = j
                if count < k:
                    count += 1

    @jit
    def gathered_dots(u, table, idx, out):
        # out[b, n] = u[b] · table[idx[b, n]], without gathering the (B, N, d) block of table rows.
        d = u.shape[1]
        for b in prange(idx.shape[0]):
            row = idx[b]
            for n in range(idx.shape[1]):
                _prefetch_row(table, row, n + _PREFETCH_AHEAD)
                j = row[n]
                s = u[b, 0] * table[j, 0]
                for k in range(1, d):
                    s += u[b, k] * table[j, k]
                out[b, n] = s

    @jit
    def gathered_dots_backward(u, table, idx, grad, grad_u, parts, bounds):
        # grad_u[b] = sum_n grad[b, n] table[idx[b, n]]; the table's gradient is accumulated per chunk of batch rows
        # into parts[c] (summed by the caller), so no two threads write the same row.
        d = u.shape[1]
        for b in prange(idx.shape[0]):
            acc = np.zeros(d, grad_u.dtype)
            row = idx[b]
            for n in range(idx.shape[1]):
                _prefetch_row(table, row, n + _PREFETCH_AHEAD)
                j = row[n]
                w = grad[b, n]
                for k in range(d):
                    acc[k] += w * table[j, k]
            for k in range(d):
                grad_u[b, k] = acc[k]
        for c in prange(bounds.size - 1):
            part = parts[c]
            for b in range(bounds[c], bounds[c + 1]):
                row = idx[b]
                for n in range(idx.shape[1]):
                    _prefetch_row(part, row, n + _PREFETCH_AHEAD)
                    j = row[n]
                    w = grad[b, n]
                    for k in range(d):
                        part[j, k] += w * u[b, k]

    return SimpleNamespace(numba=numba, spmm=spmm, spmm_sparse_input=spmm_sparse_input, spmm_rows_add=spmm_rows_add,
                           rowwise_gram=rowwise_gram, topk=topk, gathered_dots=gathered_dots,
                           gathered_dots_backward=gathered_dots_backward)


def _fast(adj: Tensor, *dense: Tensor) -> bool:
    """Whether the numba loops cover this call: a CPU CSR matrix and dense blocks of its float dtype."""
    if adj.layout != torch.sparse_csr or adj.device.type != "cpu" or adj.dtype not in (torch.float32, torch.float64):
        return False
    return all(t.device.type == "cpu" and t.dtype == adj.dtype and t.layout == torch.strided for t in dense)


def _parts(adj: Tensor):
    return adj.crow_indices().numpy(), adj.col_indices().numpy(), adj.values().detach().numpy()


def _no_add(val: np.ndarray) -> np.ndarray:
    return np.empty((0, 0), val.dtype)


def _np(t: Tensor) -> np.ndarray:
    return t.detach().contiguous().numpy()


def _threads(numba) -> int:
    threads = max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS))
    numba.set_num_threads(threads)
    return threads


def _bounds(crow: np.ndarray, threads: int) -> np.ndarray:
    """Row boundaries of chunks holding about equal numbers of entries."""
    chunks = max(1, min(threads * _CHUNKS_PER_THREAD, crow.size - 1))
    bounds = np.searchsorted(crow, np.linspace(0, crow[-1], chunks + 1)).astype(np.int64)
    bounds[0], bounds[-1] = 0, crow.size - 1
    return np.unique(bounds)


def spmm(adj: Tensor, x: Tensor, out: Tensor | None = None, add: Tensor | None = None,
         rows: Tensor | None = None, slot: Tensor | None = None, diag: Tensor | None = None) -> Tensor:
    """``adj @ x``, plus ``add[j]`` on row ``rows[j]`` when ``add`` is given (``rows`` unique; ``slot`` is its
    inverse, ``slot[rows[j]] = j`` and -1 elsewhere, from :func:`row_slots`), plus ``diag[r] * x[r]`` on every row
    when ``diag`` (N,) is given (``(adj + diag(diag)) @ x`` in one pass). Written into ``out`` when given."""
    if diag is not None and (adj.size(0) != adj.size(1) or diag.shape != (adj.size(0),)):
        raise ValueError(f"spmm: diag needs a square matrix and one value per row, got {tuple(adj.shape)} and "
                         f"{tuple(diag.shape)}")
    if out is None:
        out = x.new_empty(adj.size(0), x.size(1))
    if not _fast(adj, x, out, *(t for t in (add, diag) if t is not None)):
        torch.mm(adj, x, out=out)
        if add is not None:
            out.index_add_(0, rows, add)
        if diag is not None:
            out.addcmul_(diag.unsqueeze(1), x)
        return out
    loops = _compiled()
    crow, col, val = _parts(adj)
    loops.spmm(crow, col, val, _np(x), out.numpy(), _no_add(val) if add is None else _np(add),
               _EMPTY_I if slot is None else slot.numpy(), val[:0] if diag is None else _np(diag),
               _bounds(crow, _threads(loops.numba)))
    return out


def spmm_from_rows(adj: Tensor, x_rows: Tensor, rows: Tensor, slot: Tensor, add: Tensor | None = None,
                   adj_t: Tensor | None = None) -> Tensor:
    """``adj @ X`` for the (N, d) matrix X that is ``x_rows[j]`` on row ``rows[j]`` and zero elsewhere, without
    building X (for a symmetric ``adj``, the backward of a row-block product), plus ``add[j]`` on row ``rows[j]``
    when given. The loop reads, in each row of ``adj``, the entries whose column is one of ``rows``; the torch
    fallback multiplies by the transpose of the row block ``adj_t[rows]``, so a non-symmetric ``adj`` must come
    with its transpose ``adj_t`` (by default ``adj`` itself)."""
    n = adj.size(0)
    if not _fast(adj, x_rows, *(t for t in (add,) if t is not None)):
        sub_crow, sub_col, sub_val = csr_rows(adj if adj_t is None else adj_t, rows)
        out = torch.mm(_transpose_rows(sub_crow, sub_col, sub_val, n), x_rows)  # adj[:, rows] = (adj_t[rows])ᵀ
        if add is not None:
            out.index_add_(0, rows, add)
        return out
    loops = _compiled()
    crow, col, val = _parts(adj)
    out = x_rows.new_empty(n, x_rows.size(1))
    loops.spmm_sparse_input(crow, col, val, _np(x_rows), slot.numpy(), out.numpy(),
                            _no_add(val) if add is None else _np(add), _bounds(crow, _threads(loops.numba)))
    return out


def spmm_rows_add_(out: Tensor, adj: Tensor, x: Tensor, rows: Tensor) -> Tensor:
    """``out += adj[rows] @ x`` (in place), without extracting the row block."""
    if not _fast(adj, x, out) or not out.is_contiguous():
        sub_crow, sub_col, sub_val = csr_rows(adj, rows)
        return out.add_(torch.mm(csr(sub_crow, sub_col, sub_val, rows.numel(), adj.size(1)), x))
    loops = _compiled()
    _threads(loops.numba)
    crow, col, val = _parts(adj)
    loops.spmm_rows_add(crow, col, val, _np(x), rows.numpy(), out.numpy())
    return out


def rowwise_gram(adj: Tensor, x: Tensor, y: Tensor) -> Tensor:
    """``out[r] = Σ_p adj[r, c_p] · (x[r] · y[c_p]) · y[c_p]`` over row r's entries: each row of ``x`` (N, d) times the
    weighted Gram of the rows of ``y`` (M, d) that row r of the (N, M) CSR ``adj`` names (iALS's per-user products,
    :class:`graphrec.models.ials.IALS`), without an (entries, d) block."""
    if not _fast(adj, x, y):
        rows = torch.repeat_interleave(torch.arange(adj.size(0)), adj.crow_indices().diff())
        cols = adj.col_indices()
        picked = y[cols]
        weights = adj.values() * (x[rows] * picked).sum(1)
        return torch.zeros_like(x).index_add_(0, rows, weights.unsqueeze(1) * picked)
    loops = _compiled()
    crow, col, val = _parts(adj)
    out = x.new_empty(x.shape)
    loops.rowwise_gram(crow, col, val, _np(x), _np(y), out.numpy(), _bounds(crow, _threads(loops.numba)))
    return out


def topk_indices(scores: Tensor, k: int) -> Tensor:
    """The columns of each row's ``k`` largest values, largest first: ``torch.topk(scores, k).indices``, with ties
    broken towards the lower column (torch leaves tie order unspecified). ~2.5x faster than torch.topk on the CPU
    for K=20 of 40,981 columns (one comparison per score, see ``topk``). Rows must hold no NaN."""
    if k > scores.size(1):
        raise ValueError(f"topk_indices: k={k} exceeds the {scores.size(1)} columns")
    if scores.device.type != "cpu" or scores.dtype not in (torch.float32, torch.float64) or scores.dim() != 2:
        return torch.topk(scores, k, dim=1, sorted=True).indices
    loops = _compiled()
    _threads(loops.numba)
    out = torch.empty(scores.size(0), k, dtype=torch.long)
    loops.topk(_np(scores), k, out.numpy())
    return out


# Chunks of batch rows whose table gradients gathered_dots_backward accumulates separately: fixed, so the result does
# not depend on the thread count (each chunk sums in batch order, the chunks are added in a fixed order).
_GATHER_CHUNKS = 2


def _gather_fast(u: Tensor, table: Tensor, idx: Tensor) -> bool:
    return (u.device.type == table.device.type == idx.device.type == "cpu" and u.dtype == table.dtype
            and u.dtype in (torch.float32, torch.float64) and idx.dtype == torch.long and u.dim() == 2
            and idx.dim() == 2 and u.size(1) > 0)


def gathered_dots(u: Tensor, table: Tensor, idx: Tensor) -> Tensor:
    """``out[b, n] = u[b] · table[idx[b, n]]`` for a (B, d) block, an (M, d) table and (B, N) indices: the scores
    of many sampled rows per batch row (UltraGCN's negatives) without gathering a (B, N, d) block."""
    if not _gather_fast(u, table, idx):
        return torch.einsum("bd,bnd->bn", u, table[idx])
    loops = _compiled()
    _threads(loops.numba)
    out = u.new_empty(idx.shape)
    loops.gathered_dots(_np(u), _np(table), _np(idx), out.numpy())
    return out


def gathered_dots_backward(u: Tensor, table: Tensor, idx: Tensor, grad: Tensor) -> tuple[Tensor, Tensor]:
    """The gradients of :func:`gathered_dots` with respect to ``u`` and ``table`` given ``grad`` = dL/d out."""
    if not _gather_fast(u, table, idx) or grad.dtype != u.dtype:
        grad_u = torch.einsum("bn,bnd->bd", grad, table[idx])
        grad_table = torch.zeros_like(table).index_add_(0, idx.reshape(-1),
                                                        (grad.unsqueeze(2) * u.unsqueeze(1)).reshape(-1, u.size(1)))
        return grad_u, grad_table
    loops = _compiled()
    _threads(loops.numba)
    grad_u = torch.empty_like(u)
    parts = u.new_zeros(_GATHER_CHUNKS, *table.shape)
    bounds = np.linspace(0, idx.size(0), _GATHER_CHUNKS + 1).astype(np.int64)
    loops.gathered_dots_backward(_np(u), _np(table), _np(idx), _np(grad), grad_u.numpy(), parts.numpy(), bounds)
    return grad_u, parts.sum(0)


def row_slots(rows: Tensor, n: int) -> Tensor:
    """``slot`` with ``slot[rows[j]] = j`` and -1 on the other of ``n`` rows (int64, on ``rows``' device)."""
    slot = torch.full((n,), -1, dtype=torch.long, device=rows.device)
    slot[rows] = torch.arange(rows.numel(), device=rows.device)
    return slot


def _unchecked():
    """Invariant checks off, said explicitly: the keyword ``check_invariants=False`` alone is not enough for some torch
    releases (2.11 warns "Sparse invariant checks are implicitly disabled" even then; the context does not)."""
    return torch.sparse.check_sparse_tensor_invariants(enable=False)


def csr(crow: Tensor, col: Tensor, values: Tensor, n: int, n_cols: int | None = None) -> Tensor:
    """An (n, n_cols or n) sparse CSR tensor from trusted, already-valid parts (invariant checks would cost a pass per call).
    Torch warns once that CSR is "beta"; that is not actionable for users, so it is silenced here only."""
    with warnings.catch_warnings(), _unchecked():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        return torch.sparse_csr_tensor(crow, col, values, (n, n if n_cols is None else n_cols),
                                       check_invariants=False)


def coo(indices: Tensor, values: Tensor, size: tuple[int, int]) -> Tensor:
    """A sparse COO tensor (not coalesced) from trusted parts, without invariant checks (see ``csr``)."""
    with _unchecked():
        return torch.sparse_coo_tensor(indices, values, size, check_invariants=False)


# The torch versions of the row products (the fallbacks above, and the reference the tests compare with).

def csr_rows(adj: Tensor, rows: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The rows ``rows`` of a CSR matrix as (crow, col, value) of a (len(rows), N) CSR matrix."""
    crow = adj.crow_indices()
    start, end = crow[rows].long(), crow[rows + 1].long()
    counts = end - start
    sub_crow = torch.zeros(rows.numel() + 1, dtype=torch.long, device=crow.device)
    torch.cumsum(counts, 0, out=sub_crow[1:])
    nnz = int(sub_crow[-1])
    # Entry positions: each row's start repeated over its entries, plus the offset inside the row.
    pos = torch.repeat_interleave(start - sub_crow[:-1], counts, output_size=nnz) + \
        torch.arange(nnz, device=crow.device)
    return sub_crow.to(crow.dtype), adj.col_indices()[pos], adj.values()[pos]


def _transpose_rows(sub_crow: Tensor, sub_col: Tensor, sub_val: Tensor, n: int) -> Tensor:
    """The (n, R) CSR transpose of an (R, n) CSR row block (a stable argsort by column)."""
    n_rows = sub_crow.numel() - 1
    entry_row = torch.repeat_interleave(torch.arange(n_rows, dtype=sub_col.dtype, device=sub_col.device),
                                        (sub_crow[1:] - sub_crow[:-1]).long(), output_size=sub_col.numel())
    order = torch.argsort(sub_col, stable=True)
    crow = torch.zeros(n + 1, dtype=sub_crow.dtype, device=sub_col.device)
    torch.cumsum(torch.bincount(sub_col, minlength=n), 0, out=crow[1:])
    return csr(crow, entry_row[order], sub_val[order], n, n_rows)
