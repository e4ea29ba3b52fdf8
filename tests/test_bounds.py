"""Min-cut upper bounds and CP-rank bounds (Levine et al. 2018; COLT 2016)."""

import itertools
import math

import numpy as np
import pytest

import convac
from convac.rank import theory
from convac.rank.structured import row_leaves
from convac.tensors.matricization import resolve_partition

NETS = {
    "cp": lambda seed, g: convac.CPNet(6, 3, 4, geometry=g, seed=seed),
    "ht": lambda seed, g: convac.HTNet(8, 2, (2, 3, 2), geometry=g, seed=seed),
    "ht-wide": lambda seed, g: convac.HTNet(8, 3, (4, 5, 3), geometry=g, seed=seed),
    "truncated": lambda seed, g: convac.ConvAC(8, 2, convac.truncated_windows(8, 2), (3, 2),
                                               geometry=g, seed=seed),
    "window4": lambda seed, g: convac.HTNet(16, 2, (3, 2), window=4, geometry=g, seed=seed),
    "mixed": lambda seed, g: convac.ConvAC(12, 2, (2, 3, 2), (2, 3, 2), geometry=g, seed=seed),
}


def brute_force_min_cut(net, partition):
    """Enumerate every side assignment of the network's vertices.

    Conv vertices take the row or the column side; pooling (copy) vertices may also be
    split (cost ``r_{l-1}``, every incident edge then stays uncut).  The cost is the split
    costs times the widths of the edges whose ends lie on different sides.
    """
    s = net.schedule
    is_row, _ = row_leaves(net, partition)
    # vertices: modes (fixed sides), level-0 convs, then per level >= 1 pool and conv
    edges, pools = [], []
    n_vertices = 2 * s.n_patches
    edges += [(p, s.n_patches + p, s.n_channels) for p in range(s.n_patches)]
    convs = list(range(s.n_patches, 2 * s.n_patches))
    for level, w in enumerate(s.windows, start=1):
        width = s.ranks[level - 1]
        new_convs = []
        for j in range(s.nodes[level]):
            pool, conv = n_vertices, n_vertices + 1
            n_vertices += 2
            pools.append((pool, width))
            edges += [(convs[c], pool, width) for c in range(j * w, (j + 1) * w)]
            edges.append((pool, conv, width))
            new_convs.append(conv)
        convs = new_convs
    free = list(range(s.n_patches, n_vertices))
    pool_ids = {v for v, _ in pools}
    best = math.inf
    choices = [("row", "col", "split") if v in pool_ids else ("row", "col") for v in free]
    for assignment in itertools.product(*choices):
        side = {p: ("row" if is_row[p] else "col") for p in range(s.n_patches)}
        side.update(zip(free, assignment, strict=True))
        cost = math.prod(w for v, w in pools if side[v] == "split")
        for a, b, w in edges:
            if "split" not in (side[a], side[b]) and side[a] != side[b]:
                cost *= w
        best = min(best, cost)
    return best


@pytest.mark.parametrize(
    ("net", "partition"),
    [
        (convac.ConvAC(4, 3, (2, 2), (2, 5)), [0, 2]),
        (convac.ConvAC(4, 2, (2, 2), (3, 1)), [0, 1]),
        (convac.ConvAC(4, 4, (2, 2), (3, 2)), [1]),
        (convac.ConvAC(4, 2, (4,), (3,)), [0, 3]),
        (convac.ConvAC(4, 5, (2, 2), (7, 9), geometry="mirror"), [0, 1]),
        (convac.ConvAC(6, 2, (3, 2), (3, 5)), [0, 1, 4]),
    ],
)
def test_min_cut_matches_brute_force(net, partition):
    assert convac.min_cut_bound(net, partition) == brute_force_min_cut(net, partition)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("geometry", ["contiguous", "mirror"])
@pytest.mark.parametrize("case", sorted(NETS))
def test_rank_never_exceeds_min_cut(case, geometry, seed):
    net = NETS[case](seed, geometry).double()
    rng = np.random.default_rng(seed)
    n = net.n_patches
    parts = ["odd-even", "left-right"] + [
        sorted(rng.choice(n, size=int(rng.integers(1, n)), replace=False).tolist())
        for _ in range(4)
    ]
    for part in parts:
        bound = convac.min_cut_bound(net, part)
        assert isinstance(bound, int)
        rank = convac.matricization_rank(net, part, method="structured").rank
        assert rank <= bound
        rows = resolve_partition(part, n).rows
        assert bound <= min(net.n_channels ** len(rows), net.n_channels ** (n - len(rows)))


@pytest.mark.parametrize(
    ("n", "m", "r", "seed"), [(4, 3, 2, 0), (8, 2, 3, 1), (8, 3, 2, 2), (16, 3, 2, 3),
                              (16, 2, 1, 4), (8, 4, 3, 5)],
)
@pytest.mark.parametrize("shared", [False, True])
def test_min_cut_tight_odd_even_ht(n, m, r, seed, shared):
    """COLT Thm 1: odd-even rank = min(r_0, M)^(N/2) = the min-cut bound."""
    net = convac.HTNet(n, m, r, shared=shared, seed=seed)
    expected = theory.ht_odd_even_rank(n, m, r)
    assert convac.min_cut_bound(net, "odd-even") == expected
    assert convac.matricization_rank(net, "odd-even", method="structured").rank == expected


@pytest.mark.parametrize(("n", "m", "ranks", "seed"),
                         [(8, 3, (2, 3, 2), 0), (8, 4, (4, 3, 2), 1), (16, 3, 3, 2),
                          (16, 2, (2, 2, 2, 1), 3)])
def test_min_cut_tight_left_right_ht(n, m, ranks, seed):
    """Every rank <= M (non-increasing at the top): left-right rank = r_{L-1} = min-cut."""
    net = convac.HTNet(n, m, ranks, seed=seed)
    top = net.ranks[-1]
    assert convac.min_cut_bound(net, "left-right") == top
    assert convac.matricization_rank(net, "left-right", method="structured").rank == top


@pytest.mark.parametrize(("net", "left_right", "odd_even"), [
    (convac.HTNet(8, 4, (3, 2, 4), seed=1), 2, 3**4),  # pool -> conv edge below r_{L-1}
    (convac.CPNet(8, 3, 5, seed=2), 5, 5),  # a CP net's bound is its width
    (convac.CPNet(4, 2, 7, seed=3), 4, 4),  # ... or the mode sizes
])
def test_min_cut_inner_edges(net, left_right, odd_even):
    """A pooling node feeds r_{l-1} channels to its conv: that bounds the rank too."""
    for part, expected in (("left-right", left_right), ("odd-even", odd_even)):
        assert convac.min_cut_bound(net, part) == expected
        assert convac.matricization_rank(net, part, method="structured").rank == expected


def test_expansion_terms():
    assert convac.expansion_terms(convac.CPNet(6, 3, 4)) == 4
    net = convac.HTNet(8, 2, (2, 3, 5))
    assert convac.expansion_terms(net) == 5 * (3 * (2 * 1**2) ** 2) ** 2
    assert convac.expansion_terms(convac.HTNet(8, 2, 2, shared=True)) == 2 * (2 * 2**2) ** 2


@pytest.mark.parametrize("seed", [0, 1])
def test_cp_rank_bounds_cp(seed):
    net = convac.CPNet(6, 3, 5, seed=seed)
    b = convac.cp_rank_bounds(net, n_samples=4, seed=seed)
    assert b.upper == 5
    assert b.lower == min(5, 3**3)
    assert convac.matricization_rank(net, b.partition, method="structured").rank == b.lower
    # certified by default (exact over GF(p)); a numerical method is never labelled so
    assert b.is_certified and b.method == "exact" and b.rtol is None
    numerical = convac.cp_rank_bounds(net, n_samples=4, seed=seed, method="structured")
    assert numerical.lower == b.lower and numerical.rtol is not None
    assert not numerical.is_certified and numerical.certified.startswith("numerical")


@pytest.mark.parametrize("seed", [0, 1])
def test_cp_rank_bounds_ht(seed):
    net = convac.HTNet(16, 3, 2, seed=seed)
    b = convac.cp_rank_bounds(net, n_samples=4, seed=seed)
    assert b.lower == 2**8
    assert b.partition == resolve_partition("odd-even", 16)
    assert b.upper == min(convac.expansion_terms(net), 3**15)
    assert b.lower <= b.upper and not b.ambiguous
    assert b == convac.cp_rank_bounds(net, n_samples=4, seed=seed)  # seeded


def test_cp_rank_bounds_upper_capped_by_mode_sizes():
    net = convac.HTNet(4, 2, 4, seed=0)  # 4 * (4 * 1)^2 = 64 terms > 2^3
    assert convac.cp_rank_bounds(net, n_samples=2).upper == 2**3


def test_cp_rank_bounds_sampled_partition_can_win():
    """With mirror geometry the named partitions are weak; sampled ones do better."""
    net = convac.HTNet(8, 2, 2, geometry="mirror", seed=0)
    named = max(convac.matricization_rank(net, p, method="structured").rank
                for p in ("odd-even", "left-right"))
    b = convac.cp_rank_bounds(net, n_samples=16, seed=0)
    assert b.lower >= named
    assert convac.matricization_rank(net, b.partition, method="structured").rank == b.lower
    assert b.n_partitions >= 3


def test_cp_rank_bounds_exact():
    net = convac.integer_weights_(convac.HTNet(8, 2, 2), low=-20, high=20, seed=1)
    b = convac.cp_rank_bounds(net, n_samples=4, method="exact")
    assert b.method == "exact" and b.rtol is None and not b.ambiguous
    assert "proven lower bound" in b.certified
    assert b.lower == convac.cp_rank_bounds(net, n_samples=4, method="structured").lower


@pytest.mark.slow
def test_cp_rank_bounds_skips_partitions_beyond_the_budget():
    """HT N=32: the odd-even rank 2^16 is certified from its root's two Kronecker terms,
    subtree cores of (2, 2^8, 2^8) residues (1 MiB); under a smaller budget that partition
    is skipped, not fatal, and the bound comes from the partitions that fit."""
    net = convac.HTNet(32, 3, 2, seed=0)
    b = convac.cp_rank_bounds(net, n_samples=2, max_bytes=2**19)
    assert b.n_skipped >= 1 and b.lower >= 2  # left-right alone gives r_{L-1} = 2
    assert b.is_certified and b.lower == convac.min_cut_bound(net, b.partition)
    full = convac.cp_rank_bounds(net, n_samples=2, max_bytes=2**20)
    # certified (exact; the structured float rank of this partition is 967, ambiguous)
    # and equal to the min-cut upper bound, hence the rank itself
    assert full.n_skipped == 0 and full.lower == 2**16 and full.is_certified
    assert full.lower == convac.min_cut_bound(net, full.partition)
    with pytest.raises(ValueError,
                       match=r"every one of the \d+ partitions tried exceeds the memory budget"):
        convac.cp_rank_bounds(net, n_samples=2, max_bytes=8)


def test_bad_input():
    net = convac.HTNet(8, 2, 2, seed=0)
    with pytest.raises(ValueError, match="covers 2 modes, expected n_modes=8"):
        convac.min_cut_bound(net, convac.Partition((0,), (1,)))
    with pytest.raises(ValueError, match=r"partition\[0\] = 8 is not a mode in 0..7"):
        convac.min_cut_bound(net, [8])
    with pytest.raises(ValueError, match="expected a convac.ConvAC network, got list"):
        convac.min_cut_bound([1, 2], "odd-even")
    with pytest.raises(ValueError, match="n_samples must be >= 0, got -1"):
        convac.cp_rank_bounds(net, n_samples=-1)
    with pytest.raises(ValueError, match="unknown rank method 'svd'"):
        convac.cp_rank_bounds(net, method="svd")
