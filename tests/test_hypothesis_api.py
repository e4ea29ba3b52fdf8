"""Property-based tests over the public API (hypothesis, bounded and derandomized): for
any input, a clear error (:class:`convac.validate.ConvACError`, a ValueError or
TypeError naming the argument) or a result equal to an oracle; never another exception,
a hang, or an allocation over the budget (every call runs under a memory cap).

Each property draws at most a few dozen examples of tiny sizes, so the module runs in
``make test`` in seconds.
"""

from __future__ import annotations

import json
import math

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from memcap import memory_cap

import convac
from convac import validate
from convac.bench.results import ResultsFileError, canonical_param, load_commit

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])
CAP = 1 << 30  # at most 1 GiB more address space per example

# anything a user might pass where a count is expected
counts = st.one_of(st.integers(-3, 6), st.sampled_from([True, 2.0, "2", None, 2**70]))
small = st.integers(1, 4)


def _clear(call):
    """``call()`` under the memory cap; a ConvACError is a clear refusal (``None``)."""
    with memory_cap(CAP):
        try:
            return call()
        except validate.ConvACError as exc:
            assert str(exc)  # names something
            return None


# -- schedules and networks ----------------------------------------------------------------
@SETTINGS
@given(n=counts, m=counts, windows=st.lists(counts, max_size=3), ranks=counts, y=counts)
def test_schedule_is_valid_or_refused(n, m, windows, ranks, y):
    s = _clear(lambda: convac.PoolingSchedule(n, m, windows, ranks, y))
    if s is None:
        return
    assert math.prod(s.windows) == s.n_patches == n and s.nodes[-1] == 1
    assert all(w >= 2 for w in s.windows) and len(s.ranks) == s.n_levels
    # oracle: the closed form by hand, level by level
    expected = n * m * s.ranks[0] + s.ranks[-1] * y
    for level in range(1, s.n_levels):
        expected += (n // math.prod(s.windows[:level])) * s.ranks[level - 1] * s.ranks[level]
    assert s.parameter_count() == expected


@SETTINGS
@given(n=st.sampled_from([2, 4, 8]), m=small, r=small, y=st.integers(1, 2),
       shared=st.booleans(), window=st.sampled_from([2, 4, 8]),
       geometry=st.sampled_from(["contiguous", "mirror", "random"]), seed=st.integers(0, 9))
def test_network_parameters_and_coefficient_tensor(n, m, r, y, shared, window, geometry, seed):
    m = min(m, 2) if n == 8 else m  # the oracle costs M^N forward passes
    if geometry == "random":
        geometry = np.random.default_rng(seed).permutation(n).tolist()
    net = _clear(lambda: convac.HTNet(n, m, r, n_outputs=y, shared=shared, window=window,
                                      geometry=geometry, seed=seed, dtype=torch.float64))
    if net is None:
        assert window > n or round(math.log(n, window)) != math.log(n, window)
        return
    assert convac.parameter_count(net) == convac.trainable_parameters(net)
    out = y - 1
    tensor = convac.coefficient_tensor(net, out)
    torch.testing.assert_close(tensor, convac.coefficient_tensor_by_forward(net, out),
                               rtol=1e-10, atol=1e-12)


@SETTINGS
@given(m=st.integers(1, 3), n=st.sampled_from([2, 4]),
       budget=st.one_of(st.integers(-2, 2**12), st.floats(allow_nan=True),
                        st.sampled_from([None, "1024", 2**80, 1e30])))
def test_coefficient_tensor_respects_any_budget(m, n, budget):
    net = convac.CPNet(n, m, 2, seed=0, dtype=torch.float64)
    tensor = _clear(lambda: convac.coefficient_tensor(net, max_bytes=budget))
    if tensor is None:
        return
    assert tensor.numel() * 8 <= validate.max_bytes(budget)  # never over the budget
    torch.testing.assert_close(tensor, convac.coefficient_tensor_by_forward(net))


@SETTINGS
@given(side=st.integers(-2, 10**6), order=st.integers(-2, 10**6),
       budget=st.integers(1, 2**64))
def test_check_budget_never_overflows(side, order, budget):
    try:
        validate.check_budget(side, order, budget)
    except validate.BudgetError as exc:
        assert "above the memory budget" in str(exc)
        assert 8 * max(side, 1) ** min(order, 10**4) > budget or order > 10**4
    else:
        assert side <= 1 or order <= 0 or 8 * side**order <= budget


@SETTINGS
@given(geometry=st.lists(st.integers(-2, 9), max_size=9), n=st.integers(-1, 8))
def test_patch_order_is_a_permutation_or_refused(geometry, n):
    order = _clear(lambda: convac.patch_order(geometry, n))
    if order is not None:
        assert sorted(order.tolist()) == list(range(n)) and order.tolist() == geometry


# -- representation layers -------------------------------------------------------------
dtypes = st.sampled_from([torch.float32, torch.float64, torch.complex64, torch.int64,
                          torch.bool, torch.float16])


@SETTINGS
@given(m=counts, data=st.data())
def test_one_hot_is_exact_or_refused(m, data):
    layer = _clear(lambda: convac.OneHot(m))
    if layer is None:
        return
    idx = torch.tensor(data.draw(st.lists(st.lists(st.integers(-2, 6), min_size=3, max_size=3),
                                          min_size=1, max_size=3)))
    feats = _clear(lambda: layer(idx))
    if feats is None:  # out of range, or over the memory budget
        assert int(idx.min()) < 0 or int(idx.max()) >= m or idx.numel() * m * 4 > 2**31
        return
    assert feats.shape == (*idx.shape, m)
    assert torch.equal(feats.argmax(-1), idx) and torch.equal(feats.sum(-1), torch.ones(idx.shape))


@SETTINGS
@given(kind=st.sampled_from(["identity", "linear", "relu", "gaussian"]), dtype=dtypes,
       shape=st.lists(st.integers(0, 3), min_size=1, max_size=4),
       sigma=st.floats(allow_nan=True, allow_infinity=True), meta=st.booleans())
def test_representation_is_finite_or_refused(kind, dtype, shape, sigma, meta):
    args = () if kind == "identity" else (3, 2)
    kwargs = {"sigma": sigma} if kind == "gaussian" else {}
    layer = _clear(lambda: convac.Representation(kind, *args, **kwargs))
    if layer is None:
        assert kind == "gaussian" and not (math.isfinite(sigma) and sigma > 0)
        return
    x = torch.ones(shape, dtype=dtype, device="meta" if meta else "cpu")
    out = _clear(lambda: layer(x))
    if out is None:
        return
    assert not meta and dtype.is_floating_point and len(shape) == 3
    assert out.shape[:2] == x.shape[:2] and bool(torch.isfinite(out).all())


# -- results files and parameters -------------------------------------------------------
scalars = st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False),
                    st.text(alphabet="abcxyz-_ ", max_size=6))


@SETTINGS
@given(value=scalars)
def test_canonical_param_matches_every_spelling(value):
    spellings = {repr(value), value}
    if isinstance(value, int):
        spellings |= {f"np.int64({value})", float(value), repr(float(value))}
    elif isinstance(value, float):
        spellings |= {f"np.float64({value!r})"}
    assert len({canonical_param(s) for s in spellings}) == 1


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=4)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                 max_size=3),
    max_leaves=8)


@settings(SETTINGS, max_examples=15)
@given(results=json_values, columns=json_values)
def test_any_results_file_loads_or_is_named(tmp_path_factory, results, columns):
    folder = tmp_path_factory.mktemp("results")
    (folder / "m").mkdir()
    commit = "c" * 40
    path = folder / "m" / "cccccccc-e.json"
    path.write_text(json.dumps({"commit_hash": commit, "result_columns": columns,
                                "results": results}))
    try:
        run = load_commit(str(folder), "m", commit)
    except ResultsFileError as exc:
        assert str(path) in str(exc)
        return
    for m in run.values.values():
        assert m.value is None or not math.isinf(m.value)


# -- ranks (the rank helper's module) ----------------------------------------------------
@SETTINGS
@given(rtol=st.one_of(st.none(), st.floats()), seed=st.integers(0, 5))
def test_dense_rank_is_the_oracle_or_refused(rtol, seed):
    a = torch.randn((2,) * 4, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    try:
        result = convac.matricization_rank(a, "odd-even", method="dense", rtol=rtol)
    except (ValueError, TypeError):
        assert rtol is not None and not 0 <= rtol < 1
        return
    assert rtol is None or 0 <= rtol < 1
    sv = np.linalg.svd(convac.matricize(a, "odd-even").numpy(), compute_uv=False)
    assert result.rank == int((sv > result.rtol * sv[0]).sum())
