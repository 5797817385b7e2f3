import math

import torch

from graphrec.foldin import REG_GRID, choose_reg, fold_in_vectors


def run(n_users=40, n_items=30, dim=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    users = torch.randn(n_users, dim, generator=gen, dtype=torch.float64)
    items = torch.randn(n_items, dim, generator=gen, dtype=torch.float64)
    keys = torch.unique(torch.randint(n_users * n_items, (400,), generator=gen))
    return users, items, torch.stack([keys // n_items, keys % n_items])


def ridge(x, sums, reg):
    gram = x.T @ x
    return torch.linalg.solve(gram + reg * torch.trace(gram) / x.shape[1] * torch.eye(x.shape[1], dtype=x.dtype),
                              sums.T).T


def test_a_new_user_gets_the_ridge_least_squares_vector_against_the_item_vectors():
    users, items, pairs = run()
    u_vec, i_vec = fold_in_vectors(users, items, pairs, [[1, 4, 9], [], [2]], [], reg=0.5)
    expected = ridge(items.float().double(), torch.stack([items[[1, 4, 9]].sum(0), torch.zeros(6), items[2]]), 0.5)
    assert torch.allclose(u_vec.double(), expected, atol=1e-5) and u_vec[1].abs().sum() == 0
    assert i_vec.shape == (0, 6)


def test_the_ridge_is_chosen_as_the_one_whose_folded_users_rank_like_the_trained_ones():
    users, items, pairs = run()
    # trained user vectors that are exactly the ridge answer at λ = 1 for each user's items
    sums = torch.zeros_like(users).index_add_(0, pairs[0], items[pairs[1]])
    trained = ridge(items, sums, 1.0)
    assert choose_reg(trained, items, pairs) == 1.0
    assert choose_reg(ridge(items, sums, 10.0), items, pairs) == 10.0
    assert choose_reg(users, items, pairs) in REG_GRID and choose_reg(users, items, pairs) == \
        choose_reg(users, items, pairs)  # seeded
    none = torch.empty(2, 0, dtype=torch.long)
    assert choose_reg(users, items, none) == REG_GRID[len(REG_GRID) // 2]  # nothing to choose by
    u_auto, _ = fold_in_vectors(trained, items, pairs, [[1, 4, 9]], [])
    u_one, _ = fold_in_vectors(trained, items, pairs, [[1, 4, 9]], [], reg=1.0)
    assert torch.equal(u_auto, u_one)


def test_a_new_item_points_where_its_users_do_as_far_as_the_runs_items_of_its_degree_reach():
    users, items, pairs = run()
    user_degree = torch.bincount(pairs[0], minlength=users.shape[0]).double()
    scaled = users / user_degree.clamp(min=1).sqrt().unsqueeze(1)
    directions = torch.zeros_like(items).index_add_(0, pairs[1], scaled[pairs[0]])
    unit = directions / directions.norm(dim=1, keepdim=True).clamp(min=1e-12)
    degree = torch.bincount(pairs[1], minlength=items.shape[0]).double()
    # trained items reaching exactly 0.5 + 0.8 log(degree) along their direction, plus a part across it that the
    # length must ignore
    noise = torch.randn(items.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    noise -= (noise * unit).sum(1, keepdim=True) * unit
    items = unit * (0.5 + 0.8 * degree.clamp(min=1).log()).unsqueeze(1) + noise
    new_users = [3, 7, 8]
    _, i_vec = fold_in_vectors(users, items, pairs, [], [new_users, []])
    direction = scaled[new_users].sum(0)
    assert math.isclose(float(i_vec[0].norm()), 0.5 + 0.8 * math.log(3), rel_tol=1e-4)
    assert torch.allclose(i_vec[0].double() / i_vec[0].norm(), direction / direction.norm(), atol=1e-5)
    assert i_vec[1].abs().sum() == 0
