"""The asv suite's cached builders (``benchmarks/_common.py``).

1. A builder returns the same object for the same arguments, equal in value to a fresh,
   uncached construction (the oracle: the package's constructors called directly).
2. No benchmark modifies what a builder returned: every benchmark of the suite runs once
   (``setup_cache``, ``setup``, its body, ``teardown``) at its smallest parameters, with
   the builders it imports spied on, and every object they handed out must still equal a
   fresh build (weights, buffers, no gradients, still in eval/train mode as built).
"""

from __future__ import annotations

import copy
import importlib
import inspect
import itertools
import sys
from pathlib import Path

import pytest
import torch

import convac
from convac.experiments.rectifier import deep_network

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def common():
    """``benchmarks._common`` imported as asv imports it (it fixes torch's thread count,
    restored afterwards)."""
    threads = torch.get_num_threads()
    sys.path.insert(0, str(ROOT))
    try:
        yield importlib.import_module("benchmarks._common")
    finally:
        sys.path.remove(str(ROOT))
        torch.set_num_threads(threads)


def _state(obj) -> dict:
    """Everything of a built object a benchmark could change: tensors by name, gradients,
    the training flag."""
    if isinstance(obj, torch.Tensor):
        return {"tensor": obj}
    out = dict(obj.state_dict())
    out.update({f"{name}.grad": p.grad for name, p in obj.named_parameters()})
    out["training"] = obj.training
    out["type"] = type(obj)
    return out


def _kind(value) -> str:
    return f"a tensor {tuple(value.shape)}" if isinstance(value, torch.Tensor) else repr(value)


def _assert_same_state(got, want, what: str):
    a, b = _state(got), _state(want)
    assert a.keys() == b.keys(), what
    for key in a:
        if isinstance(a[key], torch.Tensor) or isinstance(b[key], torch.Tensor):
            assert isinstance(a[key], torch.Tensor) and isinstance(b[key], torch.Tensor), \
                f"{what}: {key} is {_kind(a[key])}, a fresh build has {_kind(b[key])}"
            assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), \
                f"{what}: {key} differs from a fresh build"
        else:
            assert a[key] == b[key], f"{what}: {key} is {a[key]!r}, built {b[key]!r}"


def _fresh(common, name: str, args: tuple, kwargs: dict):
    """An uncached build: the builder's own function, past its ``lru_cache``."""
    return common.builders()[name].__wrapped__(*args, **kwargs)


# -- 1. equal arguments, equal (and the same) objects ----------------------------------

CASES = [
    ("cp_net", (4, 3, 2), {}, lambda: convac.CPNet(4, 3, 2, seed=0, dtype=torch.float64)),
    ("cp_net", (8, 16, 16, 0, torch.float32), {},
     lambda: convac.CPNet(8, 16, 16, seed=0, dtype=torch.float32)),
    ("ht_net", (8, 3, 2), {}, lambda: convac.HTNet(8, 3, 2, seed=0, dtype=torch.float64)),
    ("ht_net", (4, 2, (3, 2), 5, torch.float32), {},
     lambda: convac.HTNet(4, 2, (3, 2), seed=5, dtype=torch.float32)),
    ("convac_net", (12, 2, (2, 2, 3), 2), {},
     lambda: convac.ConvAC(12, 2, (2, 2, 3), 2, seed=0, dtype=torch.float64)),
    ("tt_net", (6, 2, 3), {}, lambda: convac.TTNet(6, 2, 3, seed=0, dtype=torch.float64)),
    ("ht_tensor", (4, 3, 2), {}, lambda: convac.coefficient_tensor(
        convac.HTNet(4, 3, 2, seed=0, dtype=torch.float64))),
    ("deep_net", ("relu-max", 4, 2, 4, 1), {}, lambda: deep_network("relu-max", 4, 2, 4, 1)),
]


@pytest.mark.parametrize("name, args, kwargs, oracle", CASES,
                         ids=[f"{c[0]}{c[1]}" for c in CASES])
def test_builder_is_cached_and_equals_a_fresh_construction(common, name, args, kwargs,
                                                           oracle):
    builder = common.builders()[name]
    first = builder(*args, **kwargs)
    assert builder(*args, **kwargs) is first  # cached: one object per argument tuple
    _assert_same_state(first, oracle(), f"{name}{args}")
    # a second uncached build has the same values (the builders are seeded)
    _assert_same_state(_fresh(common, name, args, kwargs), first, f"{name}{args} rebuilt")


def test_builders_differ_with_their_arguments(common):
    a, b = common.ht_net(4, 3, 2, 0), common.ht_net(4, 3, 2, 1)
    assert not torch.equal(a.weights[0], b.weights[0])  # the seed is used
    assert common.cp_net(4, 3, 2).weights[0].dtype == torch.float64
    assert common.cp_net(4, 3, 2, 0, torch.float32).weights[0].dtype == torch.float32


def test_ht_net_skips_a_non_power_of_two(common):
    with pytest.raises(NotImplementedError, match="power of 2, got 12"):
        common.ht_net(12, 2, 2)


def test_cache_each_keeps_each_keys_outcome_for_setup(common):
    import pickle

    def compute(n):
        common.skip_if(n == 3, f"n = {n} too large")
        if n == 4:
            raise ZeroDivisionError("n = 4 breaks")
        return n * n

    cache = pickle.loads(pickle.dumps(common.cache_each([(1,), (3,), (4,), (5,)], compute)))
    assert common.cached(cache, (1,)) == 1 and common.cached(cache, (5,)) == 25
    with pytest.raises(NotImplementedError, match="n = 3 too large"):  # asv: skipped
        common.cached(cache, (3,))
    with pytest.raises(common.CachedError, match="ZeroDivisionError: n = 4 breaks"):
        common.cached(cache, (4,))  # asv: this combination alone fails
    with pytest.raises(NotImplementedError, match="not in the setup_cache"):
        common.cached(cache, (2,))


# -- 2. no benchmark modifies a cached object ------------------------------------------

SMALL = {
    # setup_cache computes every parameter combination: keep one, and the smallest
    "bench_rank.HTRanks": ([2], [2], [2]),
    "bench_rank.CertifiedDeficits": ([16], [2]),
    "bench_fit.WidthSweep": ([2],),
    "bench_rectifier.GridRank": (["relu-max"], [4]),
    "bench_rectifier.Incompleteness": (["product"], [4]),
    "bench_rectifier.WidthLowerBound": (["relu-max"], ["lowest rank"]),
    # plain setup: the smallest sizes the class has
    "bench_network.ForwardPath": (["eager", "compiled", "train"],),
}
"""Parameters each benchmark class runs with here (default: its first combination)."""

SLOW = {"bench_network.ForwardPath",  # torch.compile and ~20 timed calls per path
        "bench_rectifier.ShallowMatch", "bench_rectifier.Universality",  # gradient fits
        "bench_experiments.PoolingGeometry", "bench_experiments.DepthSweep",
        "bench_experiments.LevineMinCut", "bench_rank.CertifiedDeficits",
        "bench_experiments.PoolingGeometryFull",  # two 1,000-step trainings at 32x32
        "bench_experiments.RectifierDistributions",  # 480 exact ranks, 6 shallow fits
        "bench_fit.WidthSweep", "bench_fit.Sweep",
        "bench_rank.EliminationVsLU"}  # LU and rank of 2048 x 2048, three times each
"""Classes whose one run takes more than a few seconds: ``make test-all`` runs them."""


def _classes():
    sys.path.insert(0, str(ROOT))
    threads = torch.get_num_threads()
    try:
        for path in sorted((ROOT / "benchmarks").glob("bench_*.py")):
            module = importlib.import_module(f"benchmarks.{path.stem}")
            for cls_name, cls in inspect.getmembers(module, inspect.isclass):
                if cls.__module__ == module.__name__:
                    yield f"{path.stem}.{cls_name}", module, cls
    finally:
        sys.path.remove(str(ROOT))
        torch.set_num_threads(threads)


CLASSES = {name: (module, cls) for name, module, cls in _classes()}


def _benchmarks(cls):
    return [name for name, _ in inspect.getmembers(cls, inspect.isfunction)
            if name.startswith(("time_", "peakmem_", "track_"))]


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW
                                  else n for n in sorted(CLASSES)])
def test_benchmarks_leave_cached_objects_unchanged(common, monkeypatch, name):
    module, cls = CLASSES[name]
    built = []
    for builder_name, builder in common.builders().items():
        if getattr(module, builder_name, None) is builder:
            def spy(*args, _name=builder_name, _builder=builder, **kwargs):
                obj = _builder(*args, **kwargs)
                built.append((_name, args, kwargs, obj))
                return obj
            monkeypatch.setattr(module, builder_name, spy)
    params = SMALL.get(name, tuple([p[0]] for p in getattr(cls, "params", ())))
    if hasattr(cls, "params"):
        assert isinstance(cls.params, tuple), f"{name}: params a tuple of lists, please"
        monkeypatch.setattr(cls, "params", params)  # setup_cache computes these only
    grad_enabled = torch.is_grad_enabled()
    try:
        bench = cls()
        cache = (bench.setup_cache(),) if hasattr(cls, "setup_cache") else ()
        ran = 0
        for combo in itertools.product(*params):
            args = cache + tuple(combo)
            try:
                if hasattr(bench, "setup"):
                    bench.setup(*args)
            except NotImplementedError:
                continue  # asv: skipped
            try:
                for method in _benchmarks(cls):
                    getattr(bench, method)(*args)
                ran += 1
            finally:
                if hasattr(bench, "teardown"):
                    bench.teardown(*args)
    finally:
        torch.set_grad_enabled(grad_enabled)
    assert ran or not built, f"{name}: every combination {params} was skipped"
    for builder_name, args, kwargs, obj in built:
        want = _fresh(common, builder_name, args, kwargs)
        _assert_same_state(obj, want, f"{name} through {builder_name}{args}")


def test_every_builder_is_used_by_the_suite(common):
    """The builders are the suite's one way to build: each is imported by a benchmark
    module, and no benchmark module builds a network itself."""
    used = {b for module, _ in CLASSES.values() for b in common.builders()
            if getattr(module, b, None) is common.builders()[b]}
    assert used == set(common.builders()), used
    for path in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        text = path.read_text()
        for constructor in ("CPNet(", "HTNet(", "ConvAC(", "integer_weights_("):
            code = [line for line in text.splitlines()
                    if constructor in line and not line.lstrip().startswith(("#", "``"))
                    and "``" not in line]
            assert not code, f"{path.name} builds a network itself: {code}"


def test_deepcopy_of_a_cached_network_is_independent(common):
    """What a training benchmark does in ``setup``: its copy's gradients stay its own."""
    net = common.ht_net(4, 2, 2, 0, torch.float32)
    mine = copy.deepcopy(net)
    mine(torch.rand(3, 4, 2)).sum().backward()
    assert all(p.grad is None for p in net.parameters())
    _assert_same_state(net, _fresh(common, "ht_net", (4, 2, 2, 0, torch.float32), {}),
                       "ht_net after a copy was trained")


def test_cp_and_ht_builders_equal_the_general_convac(common):
    """``cp_net``/``ht_net`` build the networks ``convac_net`` builds for the same schedule
    (bench_tensors measured those before it used the named builders)."""
    _assert_same_state(common.cp_net(8, 3, 4).weights, common.convac_net(8, 3, (8,), 4).weights,
                       "cp_net vs convac_net")
    _assert_same_state(common.ht_net(8, 3, 2).weights,
                       common.convac_net(8, 3, (2, 2, 2), 2).weights, "ht_net vs convac_net")


def test_no_timed_body_builds(common):
    """Building through a cached builder happens in ``setup``: a timed or memory body that
    called one would time (or count) a cache lookup, or a build after a cache miss."""
    builds = [*(f"{b}(" for b in common.builders()), "make_net(", "teacher_tensor(",
              "deepcopy("]
    for name, (_, cls) in CLASSES.items():
        for method in _benchmarks(cls):
            if method.startswith(("time_", "peakmem_")):
                source = inspect.getsource(getattr(cls, method))
                assert not [b for b in builds if b in source], f"{name}.{method} builds"


ASV_DEFAULTS = {"rounds": 2, "repeat": 0, "number": 0, "min_run_count": 2,
                "sample_time": 0.01, "warmup_time": -1}
"""asv 0.6's defaults of the per-benchmark attributes (``timeout``: asv.conf.json's
``default_benchmark_timeout``)."""


def test_no_benchmark_repeats_an_asv_default():
    from asv.util import load_json

    defaults = {**ASV_DEFAULTS,
                "timeout": load_json(str(ROOT / "asv.conf.json"),
                                     js_comments=True)["default_benchmark_timeout"]}
    for name, (_, cls) in CLASSES.items():
        for method in _benchmarks(cls):
            fn = getattr(cls, method)
            for attr, default in defaults.items():
                value = getattr(fn, attr, vars(cls).get(attr))
                assert value is None or value != default, \
                    f"{name}.{method}: {attr} = {value!r} repeats asv's default"


def test_cpu_description_names_the_model_and_vector_extensions(common):
    """What ``asv machine --cpu`` records (Makefile, .ci/run): model name and the vector
    extensions of a given /proc/cpuinfo, in VECTOR_FLAGS order, others left out."""
    cpuinfo = ("processor\t: 0\nmodel name\t: Some CPU @ 2.0GHz\nflags\t\t: fpu avx512f sse2 "
               "avx2 amx_tile fma\n\nprocessor\t: 1\nmodel name\t: Other\n")
    assert common.cpu_description(cpuinfo) == "Some CPU @ 2.0GHz [avx2 fma avx512f amx_tile]"
    assert common.cpu_description("model name: X\n") == "X []"
