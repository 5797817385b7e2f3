"""KGAT's pieces against hand computations on a five-node graph, and its sampling and sparse products."""

import math

import pytest
import torch

from graphrec.errors import ModelError
from graphrec.models import build, load_model, save_model
from graphrec.models.kgat import KGAT
from graphrec.models.kgat_graph import collaborative_kg, row_softmax, transr_loss
from graphrec.models.propagation import spmm
from graphrec.models.propagation import csr
from graphrec.sidegraphs import SideGraphs
from tests.unit.models.test_contract import checkerboard, checkerboard_side

# Users u0, u1 (nodes 0, 1), items i0, i1 (nodes 2, 3), entity e0 (node 4). CKG relation ids: 0 interact,
# 1 genre, 2 interact's inverse, 3 genre's inverse.
TRAIN = torch.tensor([[0, 1, 1], [0, 1, 0]])  # u0-i0, u1-i1, u1-i0
SIDE = SideGraphs(2, 2, 1, kg=torch.tensor([[2, 3, 2], [0, 0, 0], [4, 4, 4]]), relation_names=("genre",))  # i0-e0 twice


def tiny_model(**hparams) -> KGAT:
    """dim 2 with set weights: e(u0)=[1,0], e(u1)=[0,1], e(i0)=[1,1], e(i1)=[.5,-1], e(e0)=[-1,2];
    e_r: [0,0], [.5,0], [0,.5], [1,1]; W_r: I, diag(2,1), I, the swap [[0,1],[1,0]] (row vectors: e W_r)."""
    model = KGAT(2, 2, TRAIN, SIDE, dim=2, relation_dim=2, num_layers=1, halve_dims=False, **hparams)
    with torch.no_grad():
        model.embedding.weight.copy_(torch.tensor([[1, 0], [0, 1], [1, 1], [.5, -1], [-1, 2]]))
        model.relation.weight.copy_(torch.tensor([[0, 0], [.5, 0], [0, .5], [1, 1]]))
        model.transfer.copy_(torch.tensor([[[1, 0], [0, 1]], [[2, 0], [0, 1]], [[1, 0], [0, 1]], [[0, 1], [1, 0]]]))
    return model


def test_ckg_holds_interactions_kg_facts_and_their_inverses():
    ckg = collaborative_kg(TRAIN, SIDE)
    assert ckg.base_names == ("interact", "genre") and ckg.n_relations == 4 and ckg.n_nodes == 5
    triples = set(zip(ckg.head.tolist(), ckg.relation.tolist(), ckg.tail.tolist()))
    assert triples == {(0, 0, 2), (1, 0, 3), (1, 0, 2), (2, 1, 4), (3, 1, 4),  # the duplicate fact is kept once
                       (2, 2, 0), (3, 2, 1), (2, 2, 1), (4, 3, 2), (4, 3, 3)}
    assert torch.bincount(ckg.relation).tolist() == [3, 2, 3, 2] and ckg.head.numel() == 10
    assert ckg.is_inverse(torch.tensor([0, 1, 2, 3])).tolist() == [False, False, True, True]
    assert ckg.base(torch.tensor([0, 1, 2, 3])).tolist() == [0, 1, 0, 1]
    assert torch.equal(ckg.crow, torch.tensor([0, 1, 3, 6, 8, 10]))  # out-degrees 1, 2, 3, 2, 2
    assert torch.all(ckg.head.diff() >= 0) and torch.all(ckg.tail[ckg.transpose].diff() >= 0)


def test_ckg_counts_on_the_checkerboard():
    side = checkerboard_side()
    ckg = collaborative_kg(torch.stack(checkerboard().train.pairs()), side)
    n_train, n_kg = 60, side.kg.size(1)
    assert torch.bincount(ckg.relation, minlength=6).tolist() == [n_train, 12, 1, n_train, 12, 1]
    assert ckg.head.numel() == 2 * (n_train + n_kg)
    assert ckg.base_names == ("interact", "genre", "related")


def test_attention_equals_the_hand_computed_softmax():
    model = tiny_model()
    att = dict(zip(zip(model.ckg_head.tolist(), model.ckg_relation.tolist(), model.ckg_tail.tolist()),
                   model.compute_attention().tolist()))
    # Head e0, genre's inverse (swap, e_r=[1,1]): W e0 + e_r = [3, 0]; W i0 = [1, 1], W i1 = [-1, .5].
    s_i0, s_i1 = math.tanh(3), -math.tanh(3)
    assert att[4, 3, 2] == pytest.approx(math.exp(s_i0) / (math.exp(s_i0) + math.exp(s_i1)), rel=1e-6)
    assert att[4, 3, 3] == pytest.approx(math.exp(s_i1) / (math.exp(s_i0) + math.exp(s_i1)), rel=1e-6)
    # Head i0: u0, u1 by interact's inverse (W = I, e_r = [0, .5]: tanh([1, 1.5])), e0 by genre (diag(2,1),
    # e_r = [.5, 0]: tanh([2.5, 1]) against W e0 = [-2, 2]).
    scores = {0: math.tanh(1), 1: math.tanh(1.5), 4: -2 * math.tanh(2.5) + 2 * math.tanh(1)}
    total = sum(math.exp(s) for s in scores.values())
    assert att[2, 2, 0] == pytest.approx(math.exp(scores[0]) / total, rel=1e-6)
    assert att[2, 2, 1] == pytest.approx(math.exp(scores[1]) / total, rel=1e-6)
    assert att[2, 1, 4] == pytest.approx(math.exp(scores[4]) / total, rel=1e-6)
    assert att[0, 0, 2] == 1.0  # u0's only neighbour


@pytest.mark.parametrize("seed", [0, 1])
def test_attention_sums_to_one_over_each_heads_neighbours(seed):
    data = checkerboard()
    model = build("kgat", data.n_users, data.n_items, graph=torch.stack(data.train.pairs()),
                  side=checkerboard_side(), seed=seed, dim=8)
    att = model.compute_attention()
    sums = torch.zeros(model.n_nodes).index_add_(0, model.ckg_head, att)
    assert torch.allclose(sums, torch.ones(model.n_nodes))  # every node has neighbours here
    assert torch.all(att > 0)


def test_row_softmax_is_a_softmax_per_group():
    scores, rows = torch.tensor([1.0, 2.0, 0.5, -3.0, 40.0]), torch.tensor([0, 0, 2, 2, 2])
    out = row_softmax(scores, rows, 3)
    assert torch.allclose(out[:2], torch.softmax(scores[:2], 0))
    assert torch.allclose(out[2:], torch.softmax(scores[2:], 0))


def test_transr_loss_equals_the_hand_computed_value():
    h, r, t, t_neg = (torch.tensor([v]) for v in ([1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]))
    # g(h,r,t) = ||[1,0] + [0,1] - [1,1]||² = 0, g(h,r,t') = ||[1,1]||² = 2: -ln σ(2 - 0) = ln(1 + e^-2).
    assert transr_loss(h, r, t, t_neg, reg=0.0).item() == pytest.approx(math.log1p(math.exp(-2)), rel=1e-6)
    # L2: (1 + 1 + 2 + 0) / 2 per triple.
    assert transr_loss(h, r, t, t_neg, reg=0.1).item() == pytest.approx(math.log1p(math.exp(-2)) + 0.2, rel=1e-6)


def test_kg_loss_projects_with_each_triples_relation():
    model = tiny_model(kg_reg=0.1)
    # (i0, genre, e0) against (i0, genre, u0) with W = diag(2, 1), e_r = [.5, 0]: W i0 + e_r = [2.5, 1],
    # W e0 = [-2, 2] (g = 4.5² + 1 = 21.25), W u0 = [2, 0] (g = .5² + 1 = 1.25); L2 (5 + .25 + 8 + 4) / 2.
    genre = model.kg_loss(torch.tensor([2]), torch.tensor([1]), torch.tensor([4]), torch.tensor([0]))
    # (e0, genre⁻¹, i0) against (e0, genre⁻¹, i1), the swap with e_r = [1, 1]: W e0 + e_r = [3, 0],
    # W i0 = [1, 1] (g = 4 + 1 = 5), W i1 = [-1, .5] (g = 16 + .25); L2 (5 + 2 + 2 + 1.25) / 2.
    inverse = model.kg_loss(torch.tensor([4]), torch.tensor([3]), torch.tensor([2]), torch.tensor([3]))
    both = model.kg_loss(torch.tensor([2, 4]), torch.tensor([1, 3]), torch.tensor([4, 2]), torch.tensor([0, 3]))
    softplus = lambda x: math.log1p(math.exp(x))  # noqa: E731
    assert genre.item() == pytest.approx(softplus(21.25 - 1.25) + 0.1 * 17.25 / 2, rel=1e-6)
    assert inverse.item() == pytest.approx(softplus(5 - 16.25) + 0.1 * 10.25 / 2, rel=1e-6)
    assert both.item() == pytest.approx((genre.item() + inverse.item()) / 2, rel=1e-6)


def test_sampled_triples_are_facts_and_corrupted_ones_are_not():
    data = checkerboard()
    model = build("kgat", data.n_users, data.n_items, graph=torch.stack(data.train.pairs()),
                  side=checkerboard_side(), seed=0, dim=8)
    facts = set(zip(model.ckg_head.tolist(), model.ckg_relation.tolist(), model.ckg_tail.tolist()))
    torch.manual_seed(0)
    heads, relations, tails, corrupt = model.sample_kg(4000)
    assert all(f in facts for f in zip(heads.tolist(), relations.tolist(), tails.tolist()))
    assert not any(f in facts for f in zip(heads.tolist(), relations.tolist(), corrupt.tolist()))
    assert set(heads.tolist()) == set(range(model.n_nodes))  # heads are uniform over nodes with neighbours
    torch.manual_seed(0)
    again = model.sample_kg(4000)
    assert all(torch.equal(a, b) for a, b in zip(again, (heads, relations, tails, corrupt)))


def test_spmm_backward_is_the_transposed_product():
    model = tiny_model()
    att, att_t = model.attention_matrices()
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(0), requires_grad=True)
    grad = torch.randn(5, 3, generator=torch.Generator().manual_seed(1))
    spmm(att, att_t, x).backward(grad)
    dense = att.to_dense()
    assert torch.allclose(spmm(att, att_t, x.detach()), dense @ x.detach())
    assert torch.allclose(x.grad, dense.t() @ grad)
    assert not torch.allclose(dense, dense.t())  # the case the transpose is needed for
    # csr() of the same parts gives the same matrix (buffers follow .to(device))
    assert torch.equal(csr(model.ckg_crow, model.ckg_tail, model.attention, 5).to_dense(), dense)


def test_attention_is_recomputed_per_epoch_and_saved_with_the_model(tmp_path):
    from graphrec.train import make_optimizer, train_epoch

    data = checkerboard()
    model = build("kgat", data.n_users, data.n_items, graph=torch.stack(data.train.pairs()),
                  side=checkerboard_side(), seed=0, dim=8)
    start = model.attention.clone()
    assert torch.equal(start, model.compute_attention())  # a new model holds its initial weights' attention
    optimizer = make_optimizer(model, lr=0.05)
    for epoch in range(2):
        train_epoch(model, optimizer, data, 64, torch.Generator().manual_seed(epoch))
    assert not torch.allclose(model.attention, start)
    assert not torch.allclose(model.attention, model.compute_attention())  # from the start of the last epoch
    path = tmp_path / "kgat.pt"
    save_model(model.eval(), path)
    again = load_model(path, graph=torch.stack(data.train.pairs()), side=checkerboard_side())
    assert torch.equal(again.attention, model.attention)


def test_layer_sizes_halve_and_hparams_are_plain():
    model = tiny_model()
    assert all(type(v) in (int, float, bool) for v in model.hparams().values())
    data = checkerboard()
    model = build("kgat", data.n_users, data.n_items, graph=torch.stack(data.train.pairs()),
                  side=checkerboard_side(), seed=0, dim=16)
    assert [lin.out_features for lin in model.w1] == [16, 8, 4]
    user_emb, item_emb = model.eval()()
    assert user_emb.shape == (12, 16 + 16 + 8 + 4) and item_emb.shape == (12, 44)
    with pytest.raises(ModelError, match="dim=2 cannot be halved over num_layers=3"):
        build("kgat", 12, 12, graph=torch.stack(data.train.pairs()), side=checkerboard_side(), dim=2)


def test_kg_batch_size_zero_is_the_loss_without_transr():
    data = checkerboard()
    pairs, side = torch.stack(data.train.pairs()), checkerboard_side()
    with_kg = build("kgat", 12, 12, graph=pairs, side=side, seed=0, dim=8, message_dropout=0.0).train()
    without = build("kgat", 12, 12, graph=pairs, side=side, seed=0, dim=8, message_dropout=0.0,
                    kg_batch_size=0).train()
    batch = (torch.tensor([0, 7]), torch.tensor([1, 8]), torch.tensor([9, 2]))
    torch.manual_seed(3)
    full = with_kg.loss(batch)
    torch.manual_seed(3)
    kg = with_kg.kg_loss(*with_kg.sample_kg(with_kg.kg_batch_size))
    loss = without.loss(batch)
    loss.backward()
    assert loss.item() == pytest.approx(full.item() - kg.item(), rel=1e-5)
    assert without.transfer.grad is None and without.relation.weight.grad is None
    with pytest.raises(ModelError, match="kg_batch_size must be >= 0 .* got -1"):
        build("kgat", 12, 12, graph=pairs, side=side, kg_batch_size=-1)
