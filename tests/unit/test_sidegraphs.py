import pytest
import torch
from torch_geometric.data import HeteroData

from graphrec.errors import ConfigError
from graphrec.sidegraphs import SideGraphs


def hetero() -> HeteroData:
    data = HeteroData()
    data["user"].num_nodes, data["item"].num_nodes, data["entity"].num_nodes = 3, 4, 2
    data["user", "interacted", "item"].edge_index = torch.tensor([[0, 1], [0, 3]])
    data["user", "follows", "user"].edge_index = torch.tensor([[0, 1, 2, 2], [1, 0, 0, 2]])
    data["item", "kg", "entity"].edge_index = torch.tensor([[0, 1, 3], [0, 0, 1]])
    data["item", "kg", "entity"].relation = torch.tensor([1, 1, 0])
    data["entity", "kg", "item"].edge_index = torch.tensor([[1], [2]])
    data["entity", "kg", "item"].relation = torch.tensor([0])
    data["item", "kg", "item"].edge_index = torch.tensor([[0], [1]])
    data["item", "kg", "item"].relation = torch.tensor([2])
    data.relation_names = ["genre", "tag", "similar"]
    return data


def test_from_hetero_puts_kg_facts_in_the_global_node_space():
    side = SideGraphs.from_hetero(hetero())
    assert (side.n_users, side.n_items, side.n_entities, side.n_nodes) == (3, 4, 2, 9)
    facts = {tuple(t) for t in side.kg.t().tolist()}
    # items are 3..6, entities 7..8
    assert facts == {(3, 1, 7), (4, 1, 7), (6, 0, 8), (8, 0, 5), (3, 2, 4)}
    assert side.relation_names == ("genre", "tag", "similar") and side.n_relations == 3


def test_social_undirected_is_symmetric_deduplicated_without_self_loops():
    side = SideGraphs.from_hetero(hetero())
    pairs = {tuple(p) for p in side.social_undirected().t().tolist()}
    assert pairs == {(0, 1), (1, 0), (0, 2), (2, 0)}


def test_item_entities_collects_both_directions():
    indptr, ents = SideGraphs.from_hetero(hetero()).item_entities()
    per_item = [sorted(ents[indptr[i]:indptr[i + 1]].tolist()) for i in range(4)]
    assert per_item == [[4, 7], [3, 7], [8], [8]]  # item 0 ~ item 1 (node 4) via "similar", node 3 = item 0


def test_bad_side_graphs_are_refused():
    with pytest.raises(ConfigError, match="user index out of range"):
        SideGraphs(2, 2, 0, social=torch.tensor([[0], [5]]))
    with pytest.raises(ConfigError, match="heads and tails must be item or entity nodes"):
        SideGraphs(2, 2, 1, kg=torch.tensor([[0], [0], [3]]), relation_names=("r",))
    with pytest.raises(ConfigError, match="relation index out of range"):
        SideGraphs(2, 2, 1, kg=torch.tensor([[2], [1], [4]]), relation_names=("r",))
