"""Core micro-benchmarks, each against a baseline timed in the same process.

They run as plain tests in ``make test`` (values are checked, timings are recorded, not
asserted: these machines are shared).  ``make bench-pytest-save`` / ``-compare`` keep a
baseline and fail on a regression.
"""

import pytest
import torch
from oracles import assert_close_to_reference
from timing import best_time, record_ratio

import convac


def test_dense_coefficient_tensor_vs_fill(benchmark):
    """HT, N=16, M=3, ranks 2 (43M entries) against filling a float64 array of that size.

    Goal: within 3x.
    """
    net = convac.HTNet(16, 3, 2, seed=0)
    tensor = benchmark.pedantic(convac.coefficient_tensor, args=(net,), rounds=3, iterations=1)
    assert tensor.shape == (3,) * 16 and torch.isfinite(tensor).all()
    subject = min(benchmark.stats.stats.data)
    baseline = best_time(lambda: torch.empty((3,) * 16, dtype=torch.float64).fill_(1.0), 3)
    record_ratio(benchmark, "coefficient_vs_fill", subject, baseline, "<= 3")


def _ht_case():
    """The forward-speed size: HT, batch 1024, N=64, M=16, ranks 16, float32, and one torch.bmm
    with the same multiply-adds, ``(groups, 1024, 16) @ (groups, 16, 16)``."""
    gen = torch.Generator().manual_seed(0)
    net = convac.HTNet(64, 16, 16, seed=0)
    feats = torch.randn(1024, 64, 16, generator=gen)  # the features the defaults assume
    macs = convac.multiply_adds(net, 1024)
    groups = round(macs / (1024 * 16 * 16))
    a = torch.rand(groups, 1024, 16, generator=gen)
    b = torch.rand(groups, 16, 16, generator=gen)
    return net, feats, macs, lambda: torch.bmm(a, b)


def _forward_vs_bmm(benchmark, model, name, goal, reference_net=None):
    net, feats, macs, bmm = _ht_case()
    model = model(net)
    # The baseline runs first: its 8 MB outputs lift glibc's mmap threshold, so neither
    # side pays a fresh mmap and page faults per call.
    baseline = best_time(bmm, 30)
    with torch.no_grad():
        out = benchmark.pedantic(model, args=(feats,), rounds=30, iterations=1,
                                 warmup_rounds=5)
        reference = net.double()(feats.double())
    assert out.shape == (1024, 1)
    assert_close_to_reference(out, reference, torch.float32)
    ratio = record_ratio(benchmark, name, min(benchmark.stats.stats.data), baseline, goal)
    benchmark.extra_info.update({"throughput_fraction": 1 / ratio, "macs": macs})
    print(f"{name}: throughput fraction of bmm {1 / ratio:.3f} ({macs} multiply-adds)")


def test_ht_forward_vs_bmm(benchmark, one_thread):
    """Eager no-grad forward against one torch.bmm with the same multiply-adds.
    Goal: at least 0.6 of its throughput."""
    _forward_vs_bmm(benchmark, lambda net: net, "ht_forward_vs_bmm",
                    "bmm/forward throughput >= 0.6")


@pytest.mark.slow
def test_ht_compiled_forward_vs_bmm(benchmark, one_thread):
    """``torch.compile``d no-grad forward (CPU inductor), same baseline.
    Goal: at least 0.9 (one graph, ``fullgraph=True``)."""
    _forward_vs_bmm(benchmark, lambda net: torch.compile(net, fullgraph=True),
                    "ht_compiled_forward_vs_bmm",
                    "bmm/forward throughput >= 0.9")


def test_ht_forward_backward_vs_bmm(benchmark, one_thread):
    """Eager forward + backward (a training step without the optimizer) against three
    bmm calls (a conv's forward and its two backward products).  Goal: 0.5."""
    net, feats, macs, bmm = _ht_case()

    def step():
        net.zero_grad(set_to_none=True)
        net(feats).sum().backward()

    baseline = 3 * best_time(bmm, 20)
    benchmark.pedantic(step, rounds=20, iterations=1, warmup_rounds=3)
    assert all(w.grad is not None and torch.isfinite(w.grad).all() for w in net.weights)
    ratio = record_ratio(benchmark, "ht_forward_backward_vs_3bmm",
                         min(benchmark.stats.stats.data), baseline, "3*bmm/step >= 0.5")
    benchmark.extra_info["throughput_fraction"] = 1 / ratio


def test_log_space_forward(benchmark):
    """Log-space forward at the same size, for the record (no goal)."""
    net = convac.HTNet(64, 16, 16, seed=0)
    feats = torch.randn(1024, 64, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        log_abs, sign = benchmark.pedantic(net.forward_log, args=(feats,), rounds=5,
                                           iterations=1)
        reference = net.double()(feats.double())
    # float32 log space against the float64 plain forward: signs must agree (accuracy is
    # tested in tests/test_network.py; signed sums that cancel limit float32 magnitudes)
    assert log_abs.shape == (1024, 1) and torch.isfinite(log_abs).all()
    assert torch.equal(sign.double(), torch.sign(reference))


def _cuda_ms(fn, repeat: int = 30, warmup: int = 5) -> float:
    """Median milliseconds per call of ``fn`` on the GPU, CUDA events around each call."""
    import statistics

    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeat):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def _bmm_chain(net, x):
    """The same size-2 HT forward written as a bare chain of bmm and products (no checks,
    no fold): ``(B, N, M) -> (B, Y)``."""
    weights = list(net.weights)
    h = torch.bmm(x.transpose(0, 1), weights[0].transpose(1, 2))  # (N, B, r_0)
    for w in weights[1:]:
        n, b, r = h.shape
        h = h.view(n // 2, 2, b, r).prod(1)  # (n/2, B, r)
        h = torch.bmm(h, w.transpose(1, 2)) if w.ndim == 3 else torch.matmul(h, w.t())
    return h[0]


# GPU sizes: batches that fill the device, ranks up to 64
CUDA_SIZES = [(16, 16, 64, 8192), (64, 32, 64, 4096), (128, 8, 32, 4096)]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("n, m, r, batch", CUDA_SIZES)
def test_cuda_forward_vs_bmm_chain(benchmark, n, m, r, batch):
    """On a GPU: the eager no-grad forward against a bare bmm chain of the same network
    (the floor of what any implementation of it launches).  For the record, no goal
    (measured on an H200, two runs: 0.63-0.70 / 0.73-0.80 / 0.72-0.76 of the
    chain's throughput)."""
    net = convac.HTNet(n, m, r, seed=0, dtype=torch.float32).cuda()
    x = torch.randn(batch, n, m, device="cuda") / m**0.5 + 1 / m
    with torch.no_grad():
        reference = _bmm_chain(net, x)
        torch.testing.assert_close(net(x), reference, rtol=1e-3,
                                   atol=1e-3 * reference.abs().max().item())
        subject = benchmark.pedantic(lambda: _cuda_ms(lambda: net(x)), rounds=1, iterations=1)
        baseline = _cuda_ms(lambda: _bmm_chain(net, x))
    ratio = record_ratio(benchmark, "cuda_forward_vs_bmm_chain", subject / 1e3,
                         baseline / 1e3, "none (for the record)")
    benchmark.extra_info["throughput_fraction"] = 1 / ratio


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("n, m, r, batch", CUDA_SIZES)
def test_cuda_compiled_vs_eager(benchmark, n, m, r, batch):
    """On a GPU: ``torch.compile(net, fullgraph=True)`` (one graph, Triton kernels, no host
    synchronisation per call) against the eager no-grad forward of the same network, the
    bare bmm chain beside both.  Goal: compiled at least as fast as eager (ratio <= 1).
    Medians of CUDA-event timings, the three forwards taken in turn three times (so a
    clock change hits all three): the ratio of the best medians, and each pass's ratio
    for the spread."""
    net = convac.HTNet(n, m, r, seed=0, dtype=torch.float32).cuda()
    x = torch.randn(batch, n, m, device="cuda")  # the features the defaults assume
    compiled = torch.compile(net, fullgraph=True)
    with torch.no_grad():
        reference = net(x)
        torch.testing.assert_close(compiled(x), reference, rtol=1e-3,
                                   atol=1e-3 * reference.abs().max().item())
        forwards = {"compiled": lambda: compiled(x), "eager": lambda: net(x),
                    "chain": lambda: _bmm_chain(net, x)}
        passes = [{name: _cuda_ms(forward) for name, forward in forwards.items()}
                  for _ in range(3)]
        benchmark.pedantic(compiled, args=(x,), rounds=5, iterations=1)
    ms = {name: min(p[name] for p in passes) for name in forwards}
    record_ratio(benchmark, "cuda_compiled_vs_eager", ms["compiled"] / 1e3,
                 ms["eager"] / 1e3, "compiled/eager <= 1")
    benchmark.extra_info.update({
        "passes_ms": passes,
        "compiled_vs_eager_per_pass": [p["compiled"] / p["eager"] for p in passes],
        "compiled_fraction_of_chain": ms["chain"] / ms["compiled"],
        "eager_fraction_of_chain": ms["chain"] / ms["eager"]})
