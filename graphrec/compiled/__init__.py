"""The compiled CPU loops (numba): the products with the adjacency and the top-k of evaluation (:mod:`kernels`), and
NGCF's layer fused into one pass (:mod:`fused`). Each has a torch fallback, used for CUDA tensors."""
