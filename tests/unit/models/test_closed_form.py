"""The closed-form models against dense references on a tiny graph (every item x item matrix formed explicitly, as
the papers write them), the baselines against naive loops, and the fit / search / save seams."""

import math

import pytest
import torch

from graphrec.closedfit import fit_closed_form, grid_points, sample_valid_users, search
from graphrec.errors import ConfigError, ModelError
from graphrec.models import MODELS, build, load_model, save_model
from graphrec.models.closed import top_right_singular
from graphrec.models.spectral import ode_states, plateau_coefficients
from graphrec.progress import silent
from graphrec.recdata import RecData
from graphrec.train import TrainConfig

N_USERS, N_ITEMS = 30, 24
CLOSED = sorted(name for name, cls in MODELS.items() if cls.closed_form)


def tiny(seed: int = 0) -> tuple[RecData, torch.Tensor]:
    """A random 30 x 24 graph (each user 3-9 items; item 23 has no training interaction) and its dense R."""
    gen = torch.Generator().manual_seed(seed)
    r = torch.zeros(N_USERS, N_ITEMS, dtype=torch.float64)
    for u in range(N_USERS):
        r[u, torch.randperm(N_ITEMS - 1, generator=gen)[:3 + u % 7]] = 1.0
    test = torch.stack([torch.arange(N_USERS), torch.full((N_USERS,), N_ITEMS - 1)])
    data = RecData.from_pairs(N_USERS, N_ITEMS, torch.nonzero(r).t(), None, test)
    return data, r


def fitted(name: str, data: RecData, **hparams):
    return build(name, data.n_users, data.n_items, graph=torch.stack(data.train.pairs()), **hparams).fit()


def scores(model) -> torch.Tensor:
    with torch.no_grad():
        return model.score(torch.arange(model.n_users)).double()


def inv_pow(d: torch.Tensor, p: float) -> torch.Tensor:
    return torch.where(d > 0, d.clamp(min=1).pow(p), torch.zeros(()))


def normalised(r: torch.Tensor) -> torch.Tensor:
    return inv_pow(r.sum(1), -0.5).unsqueeze(1) * r * inv_pow(r.sum(0), -0.5)


def top_v(r: torch.Tensor, k: int) -> torch.Tensor:
    return torch.linalg.svd(normalised(r), full_matrices=False).Vh[:k].t()


def assert_close(a, b, tol=2e-4):
    assert torch.allclose(a, b, rtol=tol, atol=tol * float(b.abs().max())), float((a - b).abs().max())


def test_randomized_svd_spans_the_top_singular_subspace():
    data, r = tiny()
    model = fitted("gfcf", data, k=0)
    v, s = top_right_singular(model.r, model.r_t, 6, oversample=10, iterations=6)
    exact = torch.linalg.svd(normalised(r), full_matrices=False)
    assert torch.allclose(s.double(), exact.S[:6], atol=1e-4)
    ref = exact.Vh[:6].t()
    assert_close((v @ v.t()).double(), ref @ ref.t(), tol=1e-3)


def test_gfcf_equals_the_dense_formula():
    data, r = tiny()
    model = fitted("gfcf", data, alpha=0.3, k=6)
    rt, d = normalised(r), r.sum(0)
    v = top_v(r, 6)
    ref = r @ rt.t() @ rt + 0.3 * (r * inv_pow(d, -0.5)) @ v @ v.t() * inv_pow(d, 0.5)
    assert_close(scores(model), ref)
    users, items = model()
    assert_close((users @ items.t()).double(), 0.3 * (r * inv_pow(d, -0.5)) @ v @ v.t() * inv_pow(d, 0.5))


@pytest.mark.parametrize("solver,t_point", [("euler", False), ("rk4", False), ("euler", True)])
def test_bspm_equals_the_dense_odes(solver, t_point):
    data, r = tiny()
    model = fitted("bspm", data, k=6, idl_beta=0.2, T_b=1.0, K_b=2, T_s=2.5, K_s=2, solver=solver, t_point=t_point)
    rt, d = normalised(r), r.sum(0)
    p = rt.t() @ rt
    v = top_v(r, 6)
    ideal = (r * inv_pow(d, -0.5)) @ v @ v.t() * inv_pow(d, 0.5)
    blurred = ode_states(lambda y: y @ p - y, r, 1.0, 2, "euler")
    sharpened = ode_states(lambda y: -y @ p, 0.2 * ideal + blurred[-1], 2.5, 2, solver)
    ref = torch.stack(blurred + sharpened).mean(0) if t_point else sharpened[-1]
    assert_close(scores(model), ref)


def test_bspm_one_euler_step_each_is_a_polynomial():
    """With one Euler step per ODE (the authors' Yelp2018 solver), BSPM is (β·ideal + rP)(I − T_s P)."""
    data, r = tiny()
    model = fitted("bspm", data, k=5, idl_beta=0.3, T_s=1.2, K_s=1, solver="euler")
    rt, d = normalised(r), r.sum(0)
    p = rt.t() @ rt
    v = top_v(r, 5)
    ideal = (r * inv_pow(d, -0.5)) @ v @ v.t() * inv_pow(d, 0.5)
    assert_close(scores(model), (0.3 * ideal + r @ p) @ (torch.eye(N_ITEMS, dtype=torch.float64) - 1.2 * p))


def test_chebycf_equals_the_dense_chebyshev_series():
    data, r = tiny()
    model = fitted("chebycf", data, K=5, phi=1.5, k=6, alpha=0.2, beta=0.4)
    rt, d = normalised(r), r.sum(0)
    lap = torch.eye(N_ITEMS, dtype=torch.float64) - 2 * rt.t() @ rt
    c = plateau_coefficients(5, 1.5).double()
    series, t_prev, t_cur = c[0] * torch.eye(N_ITEMS, dtype=torch.float64) + c[1] * lap, \
        torch.eye(N_ITEMS, dtype=torch.float64), lap
    for ck in c[2:]:
        t_prev, t_cur = t_cur, 2 * lap @ t_cur - t_prev
        series = series + ck * t_cur
    v = top_v(r, 6)
    signal = r * inv_pow(d, -0.4)
    ref = (signal @ series + 0.2 * signal @ v @ v.t()) * inv_pow(d, 0.4)
    assert_close(scores(model), ref)


def sgfcf_dense(r: torch.Tensor, k: int, beta: float, eps: float, gamma: float, alpha: float = 0.0) -> torch.Tensor:
    """SGFCF as the paper writes it: low / sum(low) + gamma · lin / sum(lin) from a full SVD of the G²N R̃."""
    def scale(d):
        return torch.where(d > 0, (d + alpha).pow(-eps), torch.zeros(()))
    rt = scale(r.sum(1)).unsqueeze(1) * r * scale(r.sum(0))
    u, s, vh = torch.linalg.svd(rt, full_matrices=False)
    w = (s[:k] / s[0]).pow(beta)
    low = (u[:, :k] * w) @ (vh[:k].t() * w).t()
    lin = rt @ rt.t() @ rt
    return low / low.sum(1, keepdim=True) + gamma * lin / lin.sum(1, keepdim=True)


@pytest.mark.parametrize("k, beta, eps, gamma, alpha", [(6, 1.3, 0.34, 1.6, 0.0), (4, 1.0, 0.5, 0.5, 2.0),
                                                        (6, 2.0, 0.3, 0.0, 0.0)])
def test_sgfcf_ranks_as_the_dense_formula(k, beta, eps, gamma, alpha):
    """Its scores are the paper's times a positive number per user (sum(lin) / gamma), so every ranking is the
    paper's; the factor is what lets the linear part be one fixed item–item matrix."""
    data, r = tiny()
    model = fitted("sgfcf", data, k=k, beta=beta, eps=eps, gamma=gamma, alpha=alpha)
    ref = sgfcf_dense(r, k, beta, eps, gamma, alpha)
    got = scores(model)
    per_user = got.sum(1, keepdim=True) / ref.sum(1, keepdim=True)
    assert bool((per_user > 0).all())
    assert_close(got / per_user, ref)
    if gamma:
        d_i = torch.where(r.sum(0) > 0, (r.sum(0) + alpha).pow(-eps), torch.zeros(()))
        d_u = torch.where(r.sum(1) > 0, (r.sum(1) + alpha).pow(-2 * eps), torch.zeros(()))
        s = (d_i * d_i).unsqueeze(1) * (r.t() @ (d_u.unsqueeze(1) * r)) * d_i
        assert_close(per_user.squeeze(1), (r @ s).sum(1) / gamma)
        assert_close(dense_rows(model), s)


def test_sgfcf_gives_a_user_without_training_interactions_nothing_and_refuses_negative_settings():
    data, r = tiny()
    keep = data.train.pairs()[0] != 5
    pairs = torch.stack(data.train.pairs())[:, keep]
    model = build("sgfcf", N_USERS, N_ITEMS, graph=pairs, k=4).fit()
    users, _ = model()
    assert float(scores(model)[5].abs().max()) == 0 and float(users[5].abs().max()) == 0
    with pytest.raises(ModelError, match="beta, eps, gamma and alpha must be >= 0"):
        fitted("sgfcf", data, eps=-0.1)


def test_plateau_coefficients_interpolate_a_low_pass():
    c = plateau_coefficients(8, 1.5).double()
    x = torch.linspace(-1, 1, 201, dtype=torch.float64)
    t = [torch.ones_like(x), x]
    for _ in range(2, 9):
        t.append(2 * x * t[-1] - t[-2])
    h = sum(ck * tk for ck, tk in zip(c, t))
    assert h[0] > 0.9 and abs(h[-1]) < 0.1 and h[:50].min() > h[150:].max()


@pytest.mark.parametrize("filter_", [1, 2, 3])
@pytest.mark.parametrize("power", [1.0, 0.7])
def test_turbocf_equals_the_dense_polynomial(filter_, power):
    data, r = tiny()
    model = fitted("turbocf", data, alpha=0.6, power=power, filter=filter_)
    rbar = inv_pow(r.sum(1), -0.6).unsqueeze(1) * r * inv_pow(r.sum(0), -0.4)
    p = (rbar.t() @ rbar).pow(power)
    poly = {1: p, 2: 2 * p - p @ p, 3: p + 0.01 * (-p @ p @ p + 10 * p @ p - 29 * p)}[filter_]
    assert_close(scores(model), r @ poly)


def test_popularity_scores_every_user_by_item_degree():
    data, r = tiny()
    model = fitted("popularity", data)
    assert torch.equal(scores(model), r.sum(0).expand(N_USERS, -1))
    users, items = model()
    assert torch.equal(users @ items.t(), scores(model).float())


def test_itemknn_equals_a_naive_loop():
    data, r = tiny()
    k, shrink = 4, 1.0
    model = fitted("itemknn", data, k=k, shrink=shrink)
    d = r.sum(0)
    sim = torch.zeros(N_ITEMS, N_ITEMS, dtype=torch.float64)
    for i in range(N_ITEMS):
        row = torch.tensor([0.0 if j == i else float(r[:, i] @ r[:, j]) / (math.sqrt(d[i] * d[j]) + shrink)
                            for j in range(N_ITEMS)], dtype=torch.float64)
        keep = torch.topk(row, k).indices
        sim[i, keep] = row[keep]
    ref = torch.tensor([[sum(float(sim[i, j]) for i in range(N_ITEMS) if r[u, i]) for j in range(N_ITEMS)]
                        for u in range(N_USERS)], dtype=torch.float64)
    assert_close(scores(model), ref, tol=1e-5)


def test_itemknn_with_fewer_neighbours_takes_them_from_a_larger_fit(monkeypatch):
    from graphrec.models.baselines import ItemKNN

    data, _ = tiny()
    held = data.with_holdout(0.3, seed=1)
    solved = []
    solve = ItemKNN.solve
    monkeypatch.setattr(ItemKNN, "solve", lambda self, progress: (solved.append(self.k), solve(self, progress)))
    fits = []
    search("itemknn", held, grid={"k": (6, 4, 2)}, config=TrainConfig(ks=(5,), metric="ndcg@5"),
           callback=fits.append)
    assert solved == [6] and [t["hparams"]["k"] for t in fits] == [6, 4, 2]  # one similarity pass for the grid
    larger = fitted("itemknn", held, k=6)
    for k in (4, 2):  # the same similarities; among equally similar items the kept one may differ (as topk's may)
        derived = build("itemknn", N_USERS, N_ITEMS, graph=torch.stack(held.train.pairs()), k=k).fit(reuse=larger)
        assert torch.equal(derived.neighbour_sim, fitted("itemknn", held, k=k).neighbour_sim)
        assert torch.equal(derived.neighbours, larger.neighbours[:, :k])
    assert not ItemKNN(N_USERS, N_ITEMS, torch.stack(held.train.pairs()), k=8).derives_from(larger)


@pytest.mark.parametrize("max_items", [N_ITEMS, 10])
def test_ease_equals_the_closed_form(max_items):
    data, r = tiny()
    model = fitted("ease", data, reg=5.0, max_items=max_items)
    kept = torch.sort(torch.argsort(r.sum(0), descending=True, stable=True)[:max_items]).values
    x = r[:, kept]
    p = torch.linalg.inv(x.t() @ x + 5.0 * torch.eye(kept.numel(), dtype=torch.float64))
    b = -p / p.diagonal()
    b.fill_diagonal_(0.0)
    got = scores(model)
    assert_close(got[:, kept], x @ b)
    others = torch.ones(N_ITEMS, dtype=torch.bool)
    others[kept] = False
    assert bool((got[:, others] < got[:, kept].min()).all())


def test_linkprop_equals_a_naive_path_count():
    data, r = tiny()
    model = fitted("linkprop", data, item_in=0.5, user_power=1.0, item_out=0.25)
    du, di = r.sum(1), r.sum(0)
    ref = torch.zeros(N_USERS, N_ITEMS, dtype=torch.float64)
    for u in range(N_USERS):
        for i in torch.nonzero(r[u]).flatten():
            for v in torch.nonzero(r[:, i]).flatten():
                for j in torch.nonzero(r[v]).flatten():
                    ref[u, j] += inv_pow(di[i], -0.5) * inv_pow(du[v], -1.0) * inv_pow(di[j], -0.25)
    assert_close(scores(model), ref)


@pytest.mark.parametrize("name", CLOSED)
def test_saved_fit_scores_the_same_without_fitting_again(name, tmp_path):
    data, _ = tiny()
    model = fitted(name, data, **({"k": 4} if name in ("gfcf", "bspm", "chebycf", "sgfcf", "itemknn") else
                                  {"first_hp": {"k": 4}} if name == "hybrid" else
                                  {"base_hp": {"k": 4}} if name == "mix" else {}))
    save_model(model, tmp_path / "m.pt")
    again = load_model(tmp_path / "m.pt", graph=torch.stack(data.train.pairs()))
    assert again.is_fitted and again.hparams() == model.hparams()
    assert torch.equal(scores(again), scores(model))


def test_an_unfitted_model_says_so():
    data, _ = tiny()
    model = build("gfcf", N_USERS, N_ITEMS, graph=torch.stack(data.train.pairs()), k=4)
    with pytest.raises(ModelError, match="GFCF is not fitted: call fit"):
        model.score(torch.arange(3))


def test_fit_closed_form_fits_once_validates_and_tests(tmp_path):
    data, _ = tiny()
    held = data.with_holdout(0.2, seed=0)
    model = build("gfcf", N_USERS, N_ITEMS, graph=torch.stack(held.train.pairs()), k=4)
    records = []
    result = fit_closed_form(model, held, TrainConfig(progress=False, ks=(5,), metric="recall@5"), run_dir=tmp_path,
                             callback=records.append)
    assert result.epochs_run == 0 and "recall@5" in result.best_valid and "recall@5" in result.test
    assert records[0]["valid"] == result.best_valid and records[0]["seconds"] == result.seconds_train
    assert (tmp_path / "best.pt").is_file() and (tmp_path / "result.json").is_file()


def test_search_ranks_on_valid_and_reuses_the_fit():
    data, _ = tiny()
    held = data.with_holdout(0.3, seed=1)
    seen = []
    result = search("gfcf", held, grid={"alpha": (0.0, 1.0), "k": (3, 5)}, config=TrainConfig(ks=(5,), metric="ndcg@5"),
                    callback=seen.append)
    assert [t["hparams"]["k"] for t in seen] == [3, 3, 5, 5]  # the SVD's cut-off varies slowest
    assert seen[1]["seconds_fit"] < seen[0]["seconds_fit"]  # the second alpha reuses the first point's SVD
    assert result.best_valid == max((t["valid"] for t in seen), key=lambda v: v["ndcg@5"])
    stateless = search("linkprop", held, grid={"item_in": (0.0, 0.5)}, config=TrainConfig(ks=(5,), metric="ndcg@5"))
    assert [t["hparams"]["item_in"] for t in stateless.trials] == [0.0, 0.5]  # nothing fitted to reuse
    with pytest.raises(ConfigError, match="no valid split"):
        search("gfcf", data)
    with pytest.raises(ConfigError, match="trains by epochs"):
        grid_points("lightgcn")


def test_a_models_own_grid_starts_at_its_defaults_and_still_reuses_its_fits():
    import inspect
    import itertools

    from graphrec.models import MODELS

    for name, cls in MODELS.items():
        space = getattr(cls, "search_space", None)
        if not getattr(cls, "closed_form", False) or not space:
            continue
        points = grid_points(name)
        params = inspect.signature(cls.__init__).parameters
        on_grid = {k: params[k].default for k in space if k in params and params[k].default in space[k]}
        assert {k: points[0][k] for k in on_grid} == on_grid, name
        key = lambda p: tuple(sorted(p.items()))  # noqa: E731
        assert sorted(map(key, points)) == sorted(key(dict(zip(space, v))) for v in itertools.product(*space.values()))
        fitted = [tuple(p[k] for k in sorted(space) if k in cls.fitted_by) for p in points]
        assert len(fitted) - sum(a == b for a, b in zip(fitted, fitted[1:])) == len(set(fitted)), name  # one run each
    assert grid_points("ials")[0] == {"reg": 0.003, "unobserved": 0.01}  # not the grid's smallest weights
    assert grid_points("gfcf", {"alpha": (0.5, 0.0), "k": (5, 3)})[0] == {"k": 5, "alpha": 0.5}  # a grid given: as is


def test_search_ends_its_grid_when_proceed_says_no():
    data, _ = tiny()
    held = data.with_holdout(0.3, seed=0)
    asked = []
    result = search("gfcf", held, grid={"alpha": (0.0, 0.5, 1.0), "k": (3,)},
                    config=TrainConfig(ks=(5,), metric="ndcg@5"),
                    proceed=lambda done: asked.append(len(done)) or len(done) < 2)
    assert asked == [1, 2] and len(result.trials) == 2
    assert result.best in [t["hparams"] for t in result.trials]


def test_sample_valid_users_keeps_whole_users():
    data, _ = tiny()
    held = data.with_holdout(0.3, seed=1)
    sample = sample_valid_users(held, 7, seed=3)
    kept = torch.nonzero(sample.valid.counts()).flatten()
    assert kept.numel() == 7 and torch.equal(sample.valid.counts()[kept], held.valid.counts()[kept])


def test_ease_refuses_a_matrix_the_memory_cannot_hold(monkeypatch):
    from graphrec.models import dense_inverse

    data, _ = tiny()
    monkeypatch.setattr(dense_inverse, "available_bytes", lambda: 4.4 * 20 * 20)
    model = build("ease", data.n_users, data.n_items, graph=torch.stack(data.train.pairs()), reg=5.0)
    with pytest.raises(ModelError, match=r"EASE: the dense item x item matrix over 24 items needs .* GiB .* "
                                         r"available; pass max_items=20 to model the 20 most popular items"):
        model.fit()
    assert fitted("ease", data, reg=5.0, max_items=20).is_fitted


@pytest.mark.parametrize("n,block", [(7, 3), (50, 16), (130, 64)])
def test_the_in_place_inverse_equals_torch_inverse(n, block):
    from graphrec.models.dense_inverse import spd_inverse_

    g = torch.randn(n, n, generator=torch.Generator().manual_seed(n), dtype=torch.float64)
    spd = g @ g.t() + n * torch.eye(n, dtype=torch.float64)
    a = spd.float().contiguous()
    pointer = a.data_ptr()
    assert spd_inverse_(a, block=block).data_ptr() == pointer
    assert_close(a.double(), torch.linalg.inv(spd), tol=1e-5)


def standardised(s: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
    """Each user's row minus its mean over the items the user has not seen, over their standard deviation."""
    out = torch.empty_like(s)
    for u in range(s.size(0)):
        unseen = s[u][seen[u] == 0]
        out[u] = (s[u] - unseen.mean()) / unseen.std(unbiased=False)
    return out


@pytest.mark.parametrize("weight", [0.0, 0.3, 1.0])
def test_hybrid_mixes_the_dense_models_standardised_per_user(weight):
    data, r = tiny()
    model = fitted("hybrid", data, first="gfcf", first_hp={"alpha": 0.3, "k": 6}, second="ease",
                   second_hp={"reg": 5.0}, weight=weight)
    rt, d, v = normalised(r), r.sum(0), top_v(r, 6)
    gfcf = r @ rt.t() @ rt + 0.3 * (r * inv_pow(d, -0.5)) @ v @ v.t() * inv_pow(d, 0.5)
    p = torch.linalg.inv(r.t() @ r + 5.0 * torch.eye(N_ITEMS, dtype=torch.float64))
    b = -p / p.diagonal()
    b.fill_diagonal_(0.0)
    ref = (1 - weight) * standardised(gfcf, r) + weight * standardised(r @ b, r)
    assert_close(scores(model), ref, tol=1e-4)


def test_hybrid_of_two_spectral_filters_computes_one_svd(monkeypatch):
    import graphrec.models.spectral as spectral

    calls = []
    real = spectral.top_right_singular
    monkeypatch.setattr(spectral, "top_right_singular", lambda *a, **kw: calls.append(a[2]) or real(*a, **kw))
    data, _ = tiny()
    model = fitted("hybrid", data, first="chebycf", first_hp={"k": 4}, second="bspm", second_hp={"k": 4})
    assert calls == [4] and model.second_model.ideal is model.first_model.ideal
    alone = fitted("bspm", data, k=4)
    with torch.no_grad():
        assert torch.equal(model.second_model.score(torch.arange(N_USERS)), alone.score(torch.arange(N_USERS)))


def test_hybrid_weight_is_chosen_on_valid_with_one_fit_of_its_parts(monkeypatch):
    """The weight's grid reuses one fit of both parts, and the choice is the same whatever the test split holds."""
    import graphrec.models.baselines as baselines

    solved = []
    real = baselines.EASE.solve
    monkeypatch.setattr(baselines.EASE, "solve", lambda self, progress: solved.append(self.reg) or real(self, progress))
    data, _ = tiny()
    held = data.with_holdout(0.3, seed=1)
    fixed = {"first": "linkprop", "second": "ease", "second_hp": {"reg": 5.0}}
    grid = {"weight": [0.0, 0.25, 0.5, 0.75, 1.0]}
    config = TrainConfig(ks=(5,), metric="recall@5", seed=0)
    found = search("hybrid", held, grid, fixed=fixed, config=config)
    assert solved == [5.0]
    best = max(found.trials, key=lambda t: t["valid"]["recall@5"])
    assert found.best == best["hparams"] and found.best_valid == best["valid"]
    scrambled = RecData.from_pairs(N_USERS, N_ITEMS, torch.stack(held.train.pairs()),
                                   torch.stack(held.valid.pairs()), torch.stack([torch.arange(N_USERS),
                                                                                 torch.arange(N_USERS) % 5]))
    again = search("hybrid", scrambled, grid, fixed=fixed, config=config)
    assert [t["valid"] for t in again.trials] == [t["valid"] for t in found.trials] and again.best == found.best


def test_hybrid_refuses_a_trained_part():
    data, _ = tiny()
    with pytest.raises(ModelError, match="Hybrid: second='lightgcn' trains by epochs"):
        fitted("hybrid", data, second="lightgcn")


SERVED_BY_ROWS = [name for name in CLOSED if not MODELS[name].dot_product_scores and not MODELS[name].not_servable]
SMALL = {"mix": {"base_hp": {"k": 4}}, "gfcf": {"k": 4}, "bspm": {"k": 4}, "chebycf": {"k": 4}, "sgfcf": {"k": 4}, "itemknn": {"k": 5},
         "ease": {"reg": 5.0},
         "turbocf": {"alpha": 0.6, "filter": 2}, "linkprop": {"user_power": 1.0}}


def dense_rows(model, block: int = 7) -> torch.Tensor:
    """S from the model's item rows, in blocks that do not divide the catalogue."""
    with torch.no_grad():
        return torch.cat([model.item_rows(torch.arange(start, min(start + block, N_ITEMS)))
                          for start in range(0, N_ITEMS, block)]).double()


@pytest.mark.parametrize("name", SERVED_BY_ROWS)
def test_item_rows_and_the_low_pass_embeddings_give_the_scores(name):
    """What publish stores (S's rows) summed over a user's items, plus the embeddings it writes, is the ranking."""
    data, r = tiny()
    model = fitted(name, data, **SMALL.get(name, {}))
    users, items = model()
    assert_close(scores(model), r @ dense_rows(model) + (users @ items.t()).double())


@pytest.mark.parametrize("name, hparams, reference", [
    ("gfcf", {"k": 0}, lambda r: normalised(r).t() @ normalised(r)),
    ("turbocf", {"alpha": 0.6, "power": 0.7, "filter": 2},
     lambda r: 2 * turbo_p(r, 0.6, 0.7) - turbo_p(r, 0.6, 0.7) @ turbo_p(r, 0.6, 0.7)),
    ("ease", {"reg": 5.0, "max_items": 10}, lambda r: ease_b(r, 5.0, 10)),
])
def test_item_rows_equal_the_dense_item_item_matrix(name, hparams, reference):
    data, r = tiny()
    assert_close(dense_rows(fitted(name, data, **hparams)), reference(r))


def test_itemknn_rows_are_its_neighbour_lists():
    data, _ = tiny()
    model = fitted("itemknn", data, k=5)
    rows = dense_rows(model)
    for i in range(N_ITEMS):
        kept = {int(j): float(v) for j, v in zip(model.neighbours[i], model.neighbour_sim[i]) if v > 0}
        assert {int(j): float(rows[i, j]) for j in torch.nonzero(rows[i]).flatten()} == pytest.approx(kept)


@pytest.mark.parametrize("name, hparams", [("gfcf", {"k": 4}), ("turbocf", {"alpha": 0.7}),
                                           ("linkprop", {"user_power": 1.0, "item_in": 0.25, "item_out": 0.25})])
def test_walk_powers_are_the_models_item_item_matrix(name, hparams):
    """The exact served path walks user → item → user → item weighted d_i^-b d_v^-a d_j^-b: it must be S."""
    data, r = tiny()
    model = fitted(name, data, **hparams)
    a, b = model.walk_powers()
    walk = inv_pow(r.sum(0), -b).unsqueeze(1) * (r.t() @ (inv_pow(r.sum(1), -a).unsqueeze(1) * r)) \
        * inv_pow(r.sum(0), -b)
    assert_close(dense_rows(model), walk)


def test_only_walks_have_walk_powers():
    data, _ = tiny()
    assert fitted("turbocf", data, filter=2).walk_powers() is None
    assert fitted("linkprop", data, item_in=0.5, item_out=0.25).walk_powers() is None
    assert fitted("itemknn", data, k=3).walk_powers() is None
    assert fitted("sgfcf", data, k=4).walk_powers() is None


def test_a_hybrid_has_no_item_rows():
    data, _ = tiny()
    model = fitted("hybrid", data, first_hp={"k": 4})
    with pytest.raises(ModelError, match="standardisation"):
        model.item_rows(torch.arange(3))


def turbo_p(r: torch.Tensor, alpha: float, power: float) -> torch.Tensor:
    rbar = inv_pow(r.sum(1), -alpha).unsqueeze(1) * r * inv_pow(r.sum(0), alpha - 1)
    return (rbar.t() @ rbar).pow(power)


def ease_b(r: torch.Tensor, reg: float, max_items: int) -> torch.Tensor:
    kept = torch.sort(torch.argsort(r.sum(0), descending=True, stable=True)[:max_items]).values
    x = r[:, kept]
    p = torch.linalg.inv(x.t() @ x + reg * torch.eye(kept.numel(), dtype=torch.float64))
    b = -p / p.diagonal()
    b.fill_diagonal_(0.0)
    out = torch.zeros(N_ITEMS, N_ITEMS, dtype=torch.float64)
    out[kept.unsqueeze(1), kept.unsqueeze(0)] = b
    return out


def test_a_filter_mix_is_its_parts_each_over_its_spread():
    data, r = tiny()
    base = fitted("gfcf", data, k=4)
    gen = torch.Generator().manual_seed(0)
    user, item = torch.randn(N_USERS, 3, generator=gen), torch.randn(N_ITEMS, 3, generator=gen)
    mix = build("mix", N_USERS, N_ITEMS, graph=torch.stack(data.train.pairs()), base="gfcf", base_hp={"k": 4},
                trained="mf", weight=0.3).use_parts(base, (user, item)).fit()
    unseen = r == 0
    spread = [float(s[unseen].std()) for s in (scores(base), (user @ item.t()).double())]
    assert mix.scales.tolist() == pytest.approx(spread, rel=1e-4)  # every user here is in the scale sample
    assert_close(scores(mix), 0.7 * scores(base) / spread[0] + 0.3 * (user @ item.t()).double() / spread[1])
    # its parts over their spreads, which auto mixes at every weight from one scoring of each
    everyone = torch.arange(N_USERS)
    first, second = (p.filter(p.signal(everyone), everyone).t().double() for p in mix.scaled_parts())
    assert_close(first[unseen], (scores(base) / spread[0])[unseen])
    assert_close(second[unseen], ((user @ item.t()).double() / spread[1])[unseen])


def test_a_filter_mix_trains_its_part_only_when_not_given_one(monkeypatch):
    from graphrec.models.hybrid import FilterMix

    data, _ = tiny()
    graph = torch.stack(data.train.pairs())
    trained = []
    real = FilterMix._train_part
    monkeypatch.setattr(FilterMix, "_train_part", lambda self, progress=silent: trained.append(1) or real(self, progress))
    given = build("mix", N_USERS, N_ITEMS, graph=graph, base="linkprop", trained="mf", trained_hp={"dim": 4})
    given.use_parts(embeddings=(torch.ones(N_USERS, 4), torch.ones(N_ITEMS, 4))).fit()
    assert not trained
    own = build("mix", N_USERS, N_ITEMS, graph=graph, base="linkprop", trained="mf", trained_hp={"dim": 4},
                trained_config={"epochs": 2, "batch_size": 16}).fit()
    assert trained == [1] and own.trained_user.shape == (N_USERS, 4)


@pytest.mark.parametrize("hparams, message", [
    ({"base": "lightgcn"}, "base='lightgcn' must be a servable closed-form model"),
    ({"base": "hybrid"}, "base='hybrid' must be a servable closed-form model"),
    ({"trained": "gfcf"}, "trained='gfcf' must be a model scored by its embeddings alone"),
    ({"trained": "ials", "trained_config": {"epochs": 3}}, "trained='ials' is fitted in closed form"),
    ({"weight": 1.5}, r"weight \(the trained part's share\) must be in \[0, 1\]"),
])
def test_a_filter_mix_refuses_parts_it_cannot_mix(hparams, message):
    data, _ = tiny()
    with pytest.raises(ModelError, match=message):
        build("mix", N_USERS, N_ITEMS, graph=torch.stack(data.train.pairs()), **hparams)


def ials_reference(r: torch.Tensor, dim: int, unobserved: float, reg: float, sweeps: int):
    """iALS by exact least squares, one dense solve per user and per item (float64), from the start a model built with
    seed=0 draws."""
    gen = torch.Generator().manual_seed(0)
    user = (torch.randn(N_USERS, dim, generator=gen) * 0.1 / dim ** 0.5).double()
    item = (torch.randn(N_ITEMS, dim, generator=gen) * 0.1 / dim ** 0.5).double()

    def half(fixed, rows):
        gram = unobserved * fixed.t() @ fixed
        solved = []
        for row in rows:
            ridge = reg * (row.sum() + unobserved * fixed.size(0))
            a = (fixed.t() * row) @ fixed + gram + ridge * torch.eye(dim, dtype=torch.float64)
            solved.append(torch.linalg.solve(a, fixed.t() @ row))
        return torch.stack(solved)

    for _ in range(sweeps):
        user = half(item, r)
        item = half(user, r.t())
    return user, item


def test_ials_sweeps_solve_each_users_and_items_least_squares():
    """With as many CG steps as dimensions each solve is exact, so a sweep is ALS's: the dense reference's."""
    data, r = tiny()
    model = build("ials", N_USERS, N_ITEMS, graph=torch.stack(data.train.pairs()), seed=0, dim=3, cg_steps=3, sweeps=2,
                  unobserved=0.05, reg=0.02).fit()
    user, item = ials_reference(r, 3, 0.05, 0.02, sweeps=2)
    assert_close(model.user.double(), user, tol=1e-4)
    assert_close(model.item.double(), item, tol=1e-4)
    assert_close(scores(model), user @ item.t(), tol=1e-4)


def test_ials_inexact_sweeps_lower_its_loss():
    data, r = tiny()

    def loss(model):
        s = scores(model)
        ridge = 0.02 * ((r.sum(1) + 0.05 * N_ITEMS) * (model.user.double() ** 2).sum(1)).sum() + \
            0.02 * ((r.sum(0) + 0.05 * N_USERS) * (model.item.double() ** 2).sum(1)).sum()
        return float(((s - 1) ** 2 * r).sum() + 0.05 * (s ** 2).sum() + ridge)

    graph = torch.stack(data.train.pairs())
    losses = [loss(build("ials", N_USERS, N_ITEMS, graph=graph, seed=0, dim=6, cg_steps=2, sweeps=n, unobserved=0.05,
                         reg=0.02).fit()) for n in (1, 2, 4)]  # one start: the sweeps alone differ
    assert losses[0] > losses[1] > losses[2]


def test_a_filter_mix_fits_a_closed_form_embedding_part_in_its_own_fit():
    data, _ = tiny()
    graph = torch.stack(data.train.pairs())
    mix = build("mix", N_USERS, N_ITEMS, graph=graph, base="gfcf", base_hp={"k": 4}, trained="ials",
                trained_hp={"dim": 3, "sweeps": 2}, weight=0.4).fit()
    alone = build("ials", N_USERS, N_ITEMS, graph=graph, seed=TrainConfig().seed, dim=3, sweeps=2).fit()
    assert torch.equal(mix.trained_user, alone.user) and torch.equal(mix.trained_item, alone.item)
