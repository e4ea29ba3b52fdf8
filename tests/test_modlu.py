"""The blocked elimination mod p (convac.rank.modlu through convac.rank.modp.rank_mod) against
python-flint's nmod_mat rank on every rank profile, sizes 1 to 4096, on numpy and torch."""

import numpy as np
import pytest
import torch

from convac.rank import modlu, modp

flint = pytest.importorskip("flint")

P, Q = modp.DEFAULT_PRIMES


def flint_rank(mat, prime):
    mat = np.asarray(mat, dtype=np.int64)
    return flint.nmod_mat(mat.shape[0], mat.shape[1], mat.ravel().tolist(), prime).rank()


def _product(rng, m, n, k, prime):
    """A product of random ``(m, k)`` and ``(k, n)`` residue matrices mod ``prime``
    (``modp.mul_mod``: exact, tested against Python integers): rank <= k."""
    a = rng.integers(0, prime, (m, k)).astype(np.float64)
    b = rng.integers(0, prime, (k, n)).astype(np.float64)
    return modp.mul_mod(a, b, prime).astype(np.int64)  # (m, n)


def profile(name: str, m: int, n: int, seed: int, prime: int = P) -> np.ndarray:
    """A residue matrix ``(m, n)`` of the named rank profile (int64, in ``[0, prime)``)."""
    rng = np.random.default_rng(seed)
    small = min(m, n)
    if name == "full":
        return rng.integers(0, prime, (m, n))
    if name == "deficient":
        return _product(rng, m, n, small // 2, prime)
    if name == "sparse":  # about 3 nonzeros a row: zero rows and columns, late pivots
        mask = rng.random((m, n)) < 3.0 / n
        return np.where(mask, rng.integers(1, prime, (m, n)), 0)
    if name == "duplicated rows":
        mat = rng.integers(0, prime, (m, n))
        mat[rng.integers(0, m, m // 2)] = mat[rng.integers(0, m, m // 2)]
        return mat
    if name == "one prime":  # deficient mod P only: integers P * noise + a P-deficient
        ints = _product(rng, m, n, small // 2, P) + P * rng.integers(0, 3, (m, n))
        return np.mod(ints, prime)
    raise ValueError(name)


PROFILES = ["full", "deficient", "sparse", "duplicated rows", "one prime"]


@pytest.fixture(autouse=True)
def no_flint_dispatch(monkeypatch):
    """The float64 elimination itself, at every size (no FLINT below 128)."""
    monkeypatch.setattr(modp, "FLINT_MAX_SIDE", 0)


@pytest.mark.parametrize("name", PROFILES)
@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (7, 1), (2, 3), (17, 17), (40, 90),
                                   (90, 40), (300, 300), (530, 270)])
def test_profiles_match_flint(name, shape):
    mat = profile(name, *shape, seed=sum(shape))
    ref = flint_rank(mat, P)
    for block in (1, 3, 16, 37, modlu.BLOCK):
        assert modp.rank_mod(mat, P, block=block) == ref, block


def test_one_prime_profile_is_deficient_mod_one_prime_only():
    mat = profile("one prime", 120, 120, seed=3)
    other = profile("one prime", 120, 120, seed=3, prime=Q)
    assert modp.rank_mod(mat, P) == flint_rank(mat, P) == 60
    assert modp.rank_mod(other, Q) == flint_rank(other, Q) == 120


@pytest.mark.parametrize("seed", range(40))
def test_random_shapes_blocks_primes(seed):
    """Random sizes, panel heights and primes (2 and the largest below 2^22 included):
    narrow heads, full-width fallbacks and swapped pivot columns all reached."""
    rng = np.random.default_rng(seed)
    prime = int(rng.choice([2, 3, 7, 65521, P, 4_194_301]))
    m, n = (int(x) for x in rng.integers(1, 120, 2))
    mat = profile(str(rng.choice(PROFILES)), m, n, seed, prime)
    if prime != P:
        mat = np.mod(mat, prime)
    block = int(rng.integers(1, 80))
    assert modp.rank_mod(mat, prime, block=block) == flint_rank(mat, prime)


def test_delayed_reduction_is_forced_for_large_primes():
    """Just below 2^22 only 2047 products fit 2^53: a small panel height with many panels
    makes the trailing matrix pass its bound and be reduced mid-way."""
    prime = 4_194_301
    assert modlu.room(prime) < 2100 < modlu.room(P)
    mat = profile("full", 300, 300, seed=5, prime=prime)
    assert modp.rank_mod(mat, prime, block=modlu.room(prime)) == flint_rank(mat, prime)
    big = mat.astype(np.float64) + prime * 2.0**29  # entries near 2^51: reduced first
    assert modp.rank_mod(big, prime, block=200) == flint_rank(mat, prime)


def test_reduce_is_centred_and_exact():
    rng = np.random.default_rng(0)
    for prime in (2, 3, P, 4_194_301):
        x = rng.integers(-2**53 + 1, 2**53, 10_000).astype(np.float64)
        x[:3] = [0.0, prime * 12345.0, -prime * 2.0**30]  # multiples: exactly zero
        got = modlu.reduce_(x.copy(), prime)
        assert np.all(np.abs(got) <= modlu.centred_bound(prime))
        ints = x.astype(np.int64)
        assert np.array_equal(np.mod(got.astype(np.int64), prime), np.mod(ints, prime))
        assert not np.any(got[:3])


@pytest.mark.parametrize("name", PROFILES)
def test_torch_path_equals_numpy_path(name):
    """The torch elimination (the GPU path, run on the CPU here) gives the numpy rank."""
    mat = profile(name, 200, 150, seed=11)
    expected = modp.rank_mod(mat, P, block=32)
    assert modp.rank_mod(torch.tensor(mat), P, block=32) == expected
    assert modp.rank_mod(mat, P, block=32, device="cpu") == expected


def test_threads_and_overwrite():
    mat = profile("deficient", 400, 300, seed=2).astype(np.float64)
    ref = flint_rank(mat, P)
    assert modp.rank_mod(mat, P, threads=2) == ref
    tensor = torch.tensor(mat)
    assert modp.rank_mod(tensor, P, threads=1, overwrite=True) == ref
    assert not torch.equal(tensor, torch.tensor(mat))  # eliminated in place
    assert torch.get_num_threads() >= 1
    with pytest.raises(ValueError, match="threads"):
        modp.rank_mod(mat, P, threads=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible")
@pytest.mark.parametrize("name", PROFILES)
def test_cuda_path_equals_cpu_path(name):
    mat = profile(name, 1500, 1300, seed=4)
    expected = modp.rank_mod(mat, P)
    assert modp.rank_mod(mat, P, device="cuda") == expected
    assert modp.rank_mod(torch.tensor(mat, device="cuda"), P) == expected


LARGE = [(side, name) for side in (1024, 2048) for name in PROFILES]
# python-flint's 4096: a minute each, in the paper-scale tier (`make test-paper`)
LARGE += [pytest.param(4096, name, marks=pytest.mark.paper) for name in ("full", "duplicated rows")]


@pytest.mark.slow
@pytest.mark.parametrize(("side", "name"), LARGE)
def test_large_profiles_match_flint(side, name):
    mat = profile(name, side, side, seed=side)
    ref = flint_rank(mat, P)
    assert modp.rank_mod(mat, P) == ref
    if side <= 2048:
        assert modp.rank_mod(mat, P, threads=2) == ref
