import pytest
import torch

from graphrec.compiled import fused
from tests.unit.conftest import cache_hits_in_two_processes


def test_dropout_mask_keeps_the_expected_share_and_depends_on_the_seed_only():
    keep = fused.dropout_keep(1000, 64, 0.1, seed=7)
    share = keep.float().mean().item()
    assert abs(share - 0.9) < 5 * (0.9 * 0.1 / keep.numel()) ** 0.5  # 5 standard deviations
    assert torch.equal(keep, fused.dropout_keep(1000, 64, 0.1, seed=7))
    assert not torch.equal(keep, fused.dropout_keep(1000, 64, 0.1, seed=8))
    assert fused.dropout_keep(50, 8, 0.0, seed=7).all()
    # neighbouring seeds and neighbouring elements are not correlated (a hash, not a counter)
    a, b = fused.dropout_keep(1, 64000, 0.5, seed=1), fused.dropout_keep(1, 64000, 0.5, seed=2)
    assert abs((a == b).float().mean().item() - 0.5) < 0.01
    assert abs((a[0, 1:] == a[0, :-1]).float().mean().item() - 0.5) < 0.01
    with pytest.raises(ValueError, match="dropout"):
        fused.dropout_keep(2, 2, 1.0, seed=0)


def test_the_fused_loops_load_from_numba_cache_in_the_next_process(tmp_path):
    # as tests/unit/test_kernels.py checks for graphrec.compiled.kernels: the hash helper is a module global, not a closure
    code = ("import torch; from graphrec.compiled import fused; "
            "a = torch.ones(2, 3); fused.ngcf_activation(a, a, True, 0.2, 0.1, 7); "
            "fused.ngcf_activation_backward(a, a, a, True, 0.2, 0.1, 7); "
            "fused.ngcf_input_grads(a.clone(), a, a, a, True); fused.dropout_keep(2, 3, 0.1, 7); "
            "loops = fused._compiled(); print(*(sum(getattr(loops, name).stats.cache_hits.values()) for name in "
            "('ngcf_activation', 'ngcf_activation_backward', 'ngcf_input_grads', 'dropout_keep')))")
    first, second = cache_hits_in_two_processes(code, tmp_path)
    assert first == ["0"] * 4  # compiled, into the fresh cache folder
    assert second == ["1"] * 4
