"""Arithmetic mod p (convac.rank.modp) against python-flint and exact Python integers."""

from fractions import Fraction

import numpy as np
import pytest

from convac.rank import modp

flint = pytest.importorskip("flint")

P = modp.DEFAULT_PRIMES[0]


@pytest.fixture(autouse=True, params=["float64", "flint"])
def elimination(request, monkeypatch):
    """Every test on both paths: the float64 blocked elimination (FLINT dispatch off)
    and the default dispatch (FLINT for sides up to ``FLINT_MAX_SIDE``)."""
    if request.param == "float64":
        monkeypatch.setattr(modp, "FLINT_MAX_SIDE", 0)
    return request.param


def random_rank_matrix(rng, m, n, k, prime):
    """A product of random (m, k) and (k, n) residue matrices: rank <= k, exact ints."""
    a = rng.integers(0, prime, (m, k)).astype(object)
    b = rng.integers(0, prime, (k, n)).astype(object)
    return np.mod(a.dot(b), prime).astype(np.int64)  # (m, n)


def flint_rank(mat, prime):
    return flint.nmod_mat(np.asarray(mat, dtype=np.int64).tolist(), prime).rank()


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("block", [1, 2, 5, 16])
def test_rank_and_echelon_match_flint(seed, block):
    rng = np.random.default_rng(seed)
    for _ in range(8):
        m, n = (int(x) for x in rng.integers(1, 70, 2))
        k = int(rng.integers(0, min(m, n) + 1))
        mat = random_rank_matrix(rng, m, n, k, P)
        if rng.random() < 0.4:  # zero columns and rows: dependent pivots
            mat[:, rng.integers(0, n, n // 3)] = 0
            mat[rng.integers(0, m, m // 3)] = 0
        ref = flint_rank(mat, P)
        assert modp.rank_mod(mat, P, block=block) == ref
        rows = modp.echelon_rows(mat, P, block=block)
        assert rows.shape == (ref, n)
        assert flint_rank(rows, P) == ref  # independent rows ..
        assert flint_rank(np.vstack([mat, rows.astype(np.int64)]), P) == ref  # .. of mat's space
        if ref:  # row echelon: each row starts strictly right of the one above
            leads = np.argmax(rows != 0, axis=1)
            assert np.all(np.diff(leads) > 0)


def test_rank_mod_overwrite_and_tall_wide():
    rng = np.random.default_rng(7)
    mat = random_rank_matrix(rng, 300, 40, 33, P).astype(np.float64)
    assert modp.rank_mod(mat, P) == modp.rank_mod(mat.T, P) == flint_rank(mat, P) == 33
    copy = mat.copy()
    assert modp.rank_mod(copy, P, overwrite=True) == 33
    assert not np.array_equal(copy, mat)  # eliminated in place


@pytest.mark.parametrize("prime", [3, 101, 65521, modp.DEFAULT_PRIMES[1], 4_194_301])
def test_small_and_large_primes(prime):
    rng = np.random.default_rng(prime)
    mat = random_rank_matrix(rng, 50, 60, 20, prime)
    assert modp.rank_mod(mat, prime, block=4) == flint_rank(mat, prime)


def test_residues_are_exact_dyadic_images():
    values = np.array([0.5, -0.75, 3.0, 1e-300, -2.0**-1074, 1e300, 0.1])
    got = modp.residues(values, P)
    for v, r in zip(values, got, strict=True):
        q = Fraction(float(v))  # the exact rational value of the float
        assert r == q.numerator * pow(q.denominator, -1, P) % P
    f32 = np.array([0.1, -3.5], dtype=np.float32)
    assert np.array_equal(modp.residues(f32, P), modp.residues(f32.astype(np.float64), P))
    ints = np.array([-1, 2**40, 7], dtype=np.int64)
    assert list(modp.residues(ints, P)) == [P - 1, 2**40 % P, 7]


def _fraction_residues(values, prime):
    out = []
    for v in np.ravel(values):
        q = Fraction(float(v))  # the exact rational value of the float
        out.append(q.numerator * pow(q.denominator, -1, prime) % prime)
    return np.array(out, dtype=np.float64).reshape(np.shape(values))


@pytest.mark.parametrize("case", ["integers", "one shift", "wide span", "float32 normal",
                                  "huge integers"])
@pytest.mark.parametrize("prime", [3, P])
def test_residues_every_path_against_fractions(case, prime):
    """Integers (no shift), values one power-of-two shift makes int64 (the weights'
    path), and spans too wide for int64 (each value's own exponent), against exact
    rationals."""
    rng = np.random.default_rng(7)
    values = {
        "integers": rng.integers(-10**6, 10**6, 40).astype(np.float64),
        "one shift": rng.integers(-2**40, 2**40, 40) * 2.0**-30,
        "wide span": np.concatenate([rng.normal(size=20), rng.normal(size=20) * 2.0**-80]),
        "float32 normal": rng.normal(size=(4, 5, 6)).astype(np.float32),
        "huge integers": rng.integers(-2**52, 2**52, 40) * 2.0**20,
    }[case]
    one_pass = modp._as_scaled_integers(np.asarray(values, np.float64)) is not None
    assert one_pass == (case not in ("wide span", "huge integers"))
    assert np.array_equal(modp.residues(values, prime), _fraction_residues(values, prime))


def test_mul_mod_exact_beyond_one_block():
    rng = np.random.default_rng(1)
    k = 3 * modp.max_block(P) + 5  # several chunks of exact float64 sums
    a = rng.integers(0, P, (4, k))
    b = rng.integers(0, P, (k, 3))
    ref = np.mod(a.astype(object).dot(b.astype(object)), P).astype(np.int64)
    assert np.array_equal(modp.mul_mod(a.astype(float), b.astype(float), P), ref)
    assert modp.max_block(P) * (P - 1) ** 2 < 2**53


def test_bad_input():
    with pytest.raises(ValueError, match="prime must be a prime below 2\\^22, got 91"):
        modp.rank_mod(np.eye(2), 91)
    with pytest.raises(TypeError, match="prime must be an integer"):
        modp.rank_mod(np.eye(2), 7.0)
    with pytest.raises(ValueError, match=r"value \(1,\) is nan"):
        modp.residues(np.array([1.0, np.nan]), P)
    with pytest.raises(ValueError, match="expected a matrix, got shape"):
        modp.rank_mod(np.zeros(3), P)
    with pytest.raises(ValueError, match=r"\(0,\) is 18446744073709551615, above the int64"):
        modp.residues(np.array([2**64 - 1], dtype=np.uint64), P)


def test_remainder_matches_numpy():
    rng = np.random.default_rng(3)
    for prime in (2, 3, P, 4_194_301):
        x = rng.integers(-2**53 + 1, 2**53, 20_000).astype(np.float64)
        x[:4] = [0.0, prime * 7.0, -prime * 2.0**31, prime - 1.0]
        assert np.array_equal(modp.remainder_(x.copy(), prime), np.remainder(x, prime))


def test_remainder_small_and_large_in_place():
    """Both sides of the small-array threshold reduce in place (strided views included)
    to numpy's remainder."""
    rng = np.random.default_rng(5)
    for size in (1, modp._REMAINDER_SMALL, modp._REMAINDER_SMALL + 1, 4 * modp._REMAINDER_SMALL):
        x = rng.integers(-2**53 + 1, 2**53, (size, 2)).astype(np.float64)
        view = x[:, 1]  # strided
        expected = np.remainder(view, P)
        assert modp.remainder_(view, P) is view
        assert np.array_equal(x[:, 1], expected)


def test_remainder_in_chunks_matches_numpy(monkeypatch):
    """Above the chunk size the reduction goes by rows (a bounded temporary), also of a
    strided view, and a single row longer than a chunk goes by pieces."""
    monkeypatch.setattr(modp, "_REMAINDER_CHUNK", 7)
    monkeypatch.setattr(modp, "_REMAINDER_SMALL", 0)  # every size takes the chunked path
    rng = np.random.default_rng(4)
    x = rng.integers(-2**53 + 1, 2**53, (9, 5)).astype(np.float64)
    view = x[:, 1:4]
    expected = np.remainder(view, P)
    modp.remainder_(view, P)
    assert np.array_equal(x[:, 1:4], expected)
    row = rng.integers(-2**40, 2**40, 30).astype(np.float64)
    assert np.array_equal(modp.remainder_(row.copy(), P), np.remainder(row, P))
    cores = rng.integers(-2**40, 2**40, (2, 5, 3)).astype(np.float64)  # 15 per channel
    assert np.array_equal(modp.remainder_(cores.copy(), P), np.remainder(cores, P))
