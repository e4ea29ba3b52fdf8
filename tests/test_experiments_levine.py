"""Levine et al. min-cut experiment: grid, keys, and the quick size against oracles."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("flint")

import torch  # noqa: E402

import convac  # noqa: E402
from convac.experiments import levine_mincut as lev  # noqa: E402
from convac.experiments.runner import evaluate  # noqa: E402


def test_grid_is_every_balanced_partition_once_for_every_prime_pattern():
    parts = lev.partitions(16)
    assert len(parts) == math.comb(16, 8) // 2 == 6435
    assert len(set(parts)) == len(parts) and all(p[0] == 0 and len(p) == 8 for p in parts)
    exp = lev.experiment()
    assert exp.size == 4**4 * 6435
    keys = {exp.key(exp.config(i)) for i in range(0, exp.size, 997)}
    assert len(keys) == len(range(0, exp.size, 997))  # distinct keys
    last = exp.config(exp.size - 1)
    assert last["ranks"] == [7, 7, 7, 7] and last["rows"] == list(parts[-1])


@pytest.mark.parametrize("seed", [0, 1])
def test_quick_sample_no_rank_above_bound_and_ranks_agree_with_float_svd(seed):
    recs = evaluate(lev.experiment(), sample=40, seed=seed)
    counts = lev.summarize(recs)["total"]
    assert counts["above"] == 0 and counts["error"] == 0 and counts["n"] == 40
    # oracle: the exact rank equals the float64 dense rank where that one is unambiguous
    for rec in recs[:6]:
        c = rec["config"]
        net = convac.integer_weights_(
            convac.HTNet(16, 2, c["ranks"], dtype=torch.float64), seed=c["seed"])
        dense = convac.matricization_rank(net, c["rows"], method="dense")
        if not dense.ambiguous:
            assert dense.rank == rec["result"]["rank"]
        assert rec["result"]["bound"] == convac.min_cut_bound(net, c["rows"])


def test_equal_widths_are_tight():
    """Levine et al.: with all widths equal (a power of one integer) the bound is tight."""
    exp = lev.experiment(primes=(2,))
    recs = evaluate(exp, sample=30, seed=3)
    assert lev.summarize(recs)["total"]["tight"] == 30


def test_check_flags_a_rank_above_the_bound():
    assert lev.check({"ranks": [2] * 4, "rows": [0]}, {"rank": 5, "bound": 4}) is not None
    assert lev.check({"ranks": [2] * 4, "rows": [0]}, {"rank": 4, "bound": 4}) is None


def test_format_summary_states_the_paper():
    recs = evaluate(lev.experiment(), sample=5, seed=0)
    text = lev.format_summary(recs)
    assert "all" in text and "paper:" in text


def test_a_degenerate_integer_draw_is_flagged_and_explains_a_below_case():
    """Weights in +-100 (the integer_weights_ default) drew a singular leaf for widths
    2.3.2.5: the rank falls below the bound there, while generic (Gaussian) weights and the
    wide default range of the experiment are tight on the same partition."""
    rows = [0, 2, 3, 8, 11, 13, 14, 15]
    config = {"n": 16, "m": 2, "ranks": [2, 3, 2, 5], "rows": rows, "seed": 1018}
    narrow = lev.compute({**config, "range": 100})
    assert not narrow["full_rank_weights"] and narrow["verdict"] == "below"
    wide = lev.compute({**config, "range": lev.WEIGHT_RANGE})
    assert wide["full_rank_weights"] and wide["verdict"] == "tight"
    gauss = convac.HTNet(16, 2, [2, 3, 2, 5], seed=0, dtype=torch.float64)
    dense = convac.matricization_rank(gauss, rows, method="dense")
    assert not dense.ambiguous and dense.rank == wide["rank"] == wide["bound"]


def test_grid_size_of_the_summary_is_the_experiments():
    assert lev.GRID_SIZE == lev.experiment().size
