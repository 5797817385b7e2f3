"""Each self-supervised model's distinctive piece does what its paper says, on tiny dense references."""

import math

import pytest
import torch

from graphrec.models import build
from graphrec.models.augment import uniform_noise
from graphrec.models.losses import bpr_loss, info_nce, info_nce_all, l2_reg
from graphrec.models.ncl import kmeans
from graphrec.models.ultragcn import beta_weights, item_neighbours
from tests.unit.conftest import random_pairs

NU, NI = 8, 10


def graph():
    return random_pairs(NU, NI, 40, seed=3)


def batch():
    return torch.tensor([0, 3, 5, 3]), torch.tensor([1, 2, 7, 4]), torch.tensor([9, 0, 3, 8])


def dense_adj(model):
    return model.adjacency().to_dense()


def test_simgcl_final_embedding_skips_e0_and_its_batch_rows_match():
    model = build("simgcl", NU, NI, graph=graph(), seed=0, dim=4)
    a, x = dense_adj(model), model.ego()
    expected = (a @ x + a @ a @ x) / 2  # mean of layers 1..L, L = 2 (the paper drops E0)
    assert torch.allclose(torch.cat(model()), expected, atol=1e-6)
    nodes = torch.tensor([0, 4, NU + 1, NU + 9])
    assert torch.allclose(model._rows(nodes), expected[nodes], atol=1e-6)


def test_simgcl_views_are_the_encoder_with_noise_of_norm_eps_on_every_layer():
    model = build("simgcl", NU, NI, graph=graph(), seed=0, dim=4, eps=0.1)
    torch.manual_seed(0)
    noisy = model.layers(noise=lambda h: uniform_noise(h, 0.1))
    clean_first = dense_adj(model) @ model.ego()
    # Layer 1's perturbation is exactly one noise draw: norm eps per row, same signs as the clean layer.
    delta = noisy[1] - clean_first
    assert torch.allclose(delta.norm(dim=1), torch.full((NU + NI,), 0.1), atol=1e-5)
    assert torch.equal(torch.sign(delta), torch.sign(clean_first))
    # With eps = 0 both views equal the clean encoder, so the contrastive term is InfoNCE of identical views.
    zero = build("simgcl", NU, NI, graph=graph(), seed=0, dim=4, eps=0.0, cl_rate=1.0, reg=0.0)
    users, pos, neg = batch()
    u, i = zero()
    rec = bpr_loss((u[users] * i[pos]).sum(1), (u[users] * i[neg]).sum(1))
    uu, pp = users.unique(), pos.unique()
    cl = info_nce(u[uu], u[uu], 0.2) + info_nce(i[pp], i[pp], 0.2)
    assert zero.loss((users, pos, neg)).item() == pytest.approx((rec + cl).item(), rel=1e-5)


def test_xsimgcl_contrasts_layer_l_star_with_the_final_embedding_of_one_noisy_pass():
    model = build("xsimgcl", NU, NI, graph=graph(), seed=0, dim=4, eps=0.0, num_layers=3, cl_layer=2)
    a, x = dense_adj(model), model.ego()
    final, contrast = model.views()
    assert torch.allclose(contrast, a @ a @ x, atol=1e-6)
    assert torch.allclose(final, (a @ x + a @ a @ x + a @ a @ a @ x) / 3, atol=1e-6)
    noisy = build("xsimgcl", NU, NI, graph=graph(), seed=0, dim=4, eps=0.2, num_layers=3, cl_layer=1)
    torch.manual_seed(0)
    final, contrast = noisy.views()
    assert torch.allclose((contrast - a @ x).norm(dim=1), torch.full((NU + NI,), 0.2), atol=1e-5)
    with torch.no_grad():
        assert torch.allclose(torch.cat(noisy()), (a @ x + a @ a @ x + a @ a @ a @ x) / 3, atol=1e-6)
    # The training loss reads the views at the batch's nodes only: the same values there.
    rows = torch.tensor([0, 3, NU + 2, NU + 9])
    final, contrast = model.views()
    final_rows, contrast_rows = model.views(rows)
    assert torch.allclose(final_rows, final[rows], atol=1e-6)
    assert torch.allclose(contrast_rows, contrast[rows], atol=1e-6)


def test_sgl_views_are_redrawn_each_epoch_reproducibly_and_its_loss_is_bpr_plus_full_infonce():
    model = build("sgl", NU, NI, graph=graph(), seed=0, dim=4, ssl_reg=0.5)
    model.on_epoch_start(torch.Generator().manual_seed(1))
    first = [v.to_dense() for v in model.views]
    model.on_epoch_start(torch.Generator().manual_seed(2))
    assert not torch.equal(first[0], model.views[0].to_dense())
    model.on_epoch_start(torch.Generator().manual_seed(1))
    assert all(torch.equal(a, v.to_dense()) for a, v in zip(first, model.views))
    assert not torch.equal(first[0], first[1])

    users, pos, neg = batch()
    a, x = dense_adj(model), model.ego()
    main = (x + a @ x + a @ a @ x + a @ a @ a @ x) / 4
    v1, v2 = ((x + d @ x + d @ d @ x + d @ d @ d @ x) / 4 for d in first)
    u, i = main[:NU], main[NU:]
    expected = bpr_loss((u[users] * i[pos]).sum(1), (u[users] * i[neg]).sum(1)) + 0.5 * (
        info_nce_all(v1[users], v2[users], v2[:NU], 0.2) + info_nce_all(v1[NU + pos], v2[NU + pos], v2[NU:], 0.2)) + \
        1e-4 * l2_reg(model.user(users), model.item(pos), model.item(neg))
    assert model.loss((users, pos, neg)).item() == pytest.approx(expected.item(), rel=1e-5)


def test_lightgcl_svd_view_is_the_truncated_svd_of_the_normalised_interactions():
    model = build("lightgcl", NU, NI, graph=graph(), seed=0, dim=4, svd_q=3)
    a_ui = dense_adj(model)[:NU, NU:].double()
    u, s, vh = torch.linalg.svd(a_ui)
    truncated = u[:, :3] @ torch.diag(s[:3]) @ vh[:3]
    reconstruction = (model.svd_us @ model.svd_v.t()).double()
    assert torch.allclose(reconstruction, truncated, atol=1e-5)
    full = build("lightgcl", NU, NI, graph=graph(), seed=0, dim=4, svd_q=NU)  # full rank: exactly Â_ui
    assert torch.allclose((full.svd_us @ full.svd_v.t()).double(), a_ui, atol=1e-5)
    x = torch.randn(NU + NI, 4)
    expected = torch.cat([reconstruction.float() @ x[NU:], reconstruction.float().t() @ x[:NU]])
    assert torch.allclose(model.svd_propagate(x), expected, atol=1e-5)
    with torch.no_grad():  # final embeddings: the sum (not mean) of layers 0..L
        a, e = dense_adj(model), model.ego()
        assert torch.allclose(torch.cat(model()), e + a @ e + a @ a @ e, atol=1e-6)


def test_lightgcl_loss_is_bpr_plus_the_svd_contrast_over_every_batch_row():
    model = build("lightgcl", NU, NI, graph=graph(), seed=0, dim=4, svd_q=3, dropout=0.0, cl_rate=0.5, reg=0.0,
                  temperature=0.2)
    users, pos, neg = torch.tensor([0, 3, 5, 3, 3]), torch.tensor([1, 2, 7, 2, 4]), torch.tensor([9, 0, 3, 8, 2])
    a, x = dense_adj(model), model.ego()
    main = [x, a @ x, a @ a @ x]
    svd = [x] + [model.svd_propagate(h) for h in main[:-1]]
    e, gv = sum(main), sum(svd)

    def contrast(nodes):  # per batch row, repeats included: logsumexp over all of its type - clamped positive
        rows = [torch.logsumexp(gv[n] @ e_all.t() / 0.2, dim=0) - (gv[n] @ e[n] / 0.2).clamp(-5, 5)
                for n, e_all in nodes]
        return torch.stack(rows).mean()

    items = torch.cat([pos, neg])
    expected = bpr_loss((e[users] * e[NU + pos]).sum(1), (e[users] * e[NU + neg]).sum(1)) + 0.5 * (
        contrast([(u, e[:NU]) for u in users.tolist()]) + contrast([(NU + i, e[NU:]) for i in items.tolist()]))
    assert model.loss((users, pos, neg)).item() == pytest.approx(expected.item(), rel=1e-5)


def test_ncl_structural_neighbour_is_layer_two_and_prototypes_come_from_kmeans():
    model = build("ncl", NU, NI, graph=graph(), seed=0, dim=4, ssl_reg=1.0, proto_reg=0.0, reg=0.0, alpha=0.5,
                  num_layers=3, num_clusters=3, warm_up_epochs=0)
    users, pos, neg = batch()
    a, x = dense_adj(model), model.ego()
    main = (x + a @ x + a @ a @ x + a @ a @ a @ x) / 4
    two = a @ a @ x
    expected = bpr_loss((main[users] * main[NU + pos]).sum(1), (main[users] * main[NU + neg]).sum(1)) + \
        info_nce_all(two[users], x[users], x[:NU], 0.1, reduction="sum") + \
        0.5 * info_nce_all(two[NU + pos], x[NU + pos], x[NU:], 0.1, reduction="sum")
    assert model.loss((users, pos, neg)).item() == pytest.approx(expected.item(), rel=1e-5)

    model.on_epoch_start(torch.Generator().manual_seed(4))
    centroids, assign = kmeans(model.user.weight.detach(), 3, 20, torch.Generator().manual_seed(4))
    user_c, user_k = model.prototypes[:2]
    assert torch.equal(user_k, assign)
    assert torch.allclose(user_c, torch.nn.functional.normalize(centroids, dim=1))
    with_proto = build("ncl", NU, NI, graph=graph(), seed=0, dim=4, ssl_reg=0.0, proto_reg=1.0, reg=0.0,
                       num_clusters=3, warm_up_epochs=1)
    with_proto.on_epoch_start(torch.Generator().manual_seed(4))
    bpr_only = with_proto.loss((users, pos, neg)).item()  # first epoch: still warming up
    with_proto.on_epoch_start(torch.Generator().manual_seed(4))
    uc, uk, ic, ik = with_proto.prototypes
    x = with_proto.ego()
    proto = info_nce_all(x[users], uc[uk[users]], uc, 0.1, reduction="sum") + \
        info_nce_all(x[NU + pos], ic[ik[pos]], ic, 0.1, reduction="sum")
    assert with_proto.loss((users, pos, neg)).item() == pytest.approx(bpr_only + proto.item(), rel=1e-5)


def test_kmeans_recovers_separated_clusters_reproducibly():
    gen = torch.Generator().manual_seed(0)
    centres = torch.tensor([[5.0, 0.0], [-5.0, 0.0], [0.0, 5.0]])
    x = torch.cat([c + 0.1 * torch.randn(20, 2, generator=gen) for c in centres])
    _, assign = kmeans(x, 3, generator=torch.Generator().manual_seed(1))
    groups = [set(assign[i * 20:(i + 1) * 20].tolist()) for i in range(3)]
    assert all(len(g) == 1 for g in groups) and len(set.union(*groups)) == 3
    assert torch.equal(assign, kmeans(x, 3, generator=torch.Generator().manual_seed(1))[1])


def test_directau_loss_is_alignment_plus_gamma_uniformity_and_ignores_negatives():
    model = build("directau", NU, NI, graph=graph(), seed=0, dim=4, gamma=2.0, weight_decay=0.0)
    users, pos, neg = batch()
    loss = model.loss((users, pos, neg))
    assert loss.item() == pytest.approx(model.loss((users, pos, torch.zeros_like(neg))).item())
    u = torch.nn.functional.normalize(model.user(users), dim=1).detach()
    i = torch.nn.functional.normalize(model.item(pos), dim=1).detach()
    align = sum(float((u[k] - i[k]).pow(2).sum()) for k in range(4)) / 4

    def unif(z):
        d = [math.exp(-2 * float((z[a] - z[b]).pow(2).sum())) for a in range(4) for b in range(a + 1, 4)]
        return math.log(sum(d) / len(d))

    assert loss.item() == pytest.approx(align + 2.0 * (unif(u) + unif(i)) / 2, rel=1e-5)
    lgcn = build("directau", NU, NI, graph=graph(), seed=0, dim=4, encoder="lightgcn", num_layers=2)
    with torch.no_grad():
        a, x = dense_adj(lgcn), lgcn.ego()
        assert torch.allclose(torch.cat(lgcn()), (x + a @ x + a @ a @ x) / 3, atol=1e-6)


def test_ultragcn_beta_matches_the_closed_form_and_omega_the_papers_item_graph_weights():
    pairs = graph()
    bu, bi = beta_weights(pairs[0], pairs[1], NU, NI)
    du, di = torch.bincount(pairs[0], minlength=NU), torch.bincount(pairs[1], minlength=NI)
    for u, i in pairs.t().tolist():
        closed = (1 / du[u].item()) * math.sqrt((du[u].item() + 1) / (di[i].item() + 1))
        assert (bu[u] * bi[i]).item() == pytest.approx(closed, rel=1e-6)
    a = torch.zeros(NU, NI, dtype=torch.float64)
    a[pairs[0], pairs[1]] = 1
    g = a.t() @ a
    gsum = g.sum(1)
    omega = torch.zeros(NI, NI, dtype=torch.float64)
    for i in range(NI):
        for j in range(NI):
            if i != j and gsum[i] - g[i, i] > 0:
                omega[i, j] = g[i, j] / (gsum[i] - g[i, i]) * math.sqrt(gsum[i] / gsum[j])
    idx, weights = item_neighbours(pairs[0], pairs[1], NU, NI, 3, chunk=4)
    assert torch.allclose(weights.double(), omega.topk(3, dim=1).values, atol=1e-6)
    assert torch.allclose(omega.gather(1, idx), weights.double(), atol=1e-6)
    self_loops = idx == torch.arange(NI).unsqueeze(1)
    assert (weights[self_loops] == 0).all()  # an item is never its own weighted neighbour


def test_ultragcn_loss_weights_positives_and_sampled_negatives_by_beta():
    model = build("ultragcn", NU, NI, graph=graph(), seed=0, dim=4, negative_num=5, lambda_ii=0.0, gamma=0.0,
                  init_std=0.5)
    users, pos, neg = batch()
    torch.manual_seed(7)
    loss = model.loss((users, pos, neg))
    torch.manual_seed(7)
    sampled = torch.randint(NI, (4, 5))
    u, it = model.user.weight.detach(), model.item.weight.detach()
    total = 0.0
    for k in range(4):
        s = float(u[users[k]] @ it[pos[k]])
        w = 1e-6 + float(model.beta_user[users[k]] * model.beta_item[pos[k]])
        total += -w * math.log(1 / (1 + math.exp(-s)))
        negs = 0.0
        for j in sampled[k].tolist():
            s = float(u[users[k]] @ it[j])
            w = 1e-6 + float(model.beta_user[users[k]] * model.beta_item[j])
            negs += -w * math.log(1 - 1 / (1 + math.exp(-s)))
        total += 300.0 * negs / 5
    assert loss.item() == pytest.approx(total, rel=1e-4)  # summed over the batch, as the reference


def test_ultragcn_negative_scores_have_the_gathered_products_gradients():
    from graphrec.models.negatives import _GatheredDots

    gen = torch.Generator().manual_seed(2)
    u = torch.randn(3, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    table = torch.randn(6, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    idx = torch.randint(6, (3, 8), generator=gen)  # repeated rows: their gradients must add up
    assert torch.autograd.gradcheck(_GatheredDots.apply, (u, table, idx))
