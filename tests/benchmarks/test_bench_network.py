"""Core micro-benchmarks (issue 2), each against a baseline timed in the same process.

They run as plain tests in ``make test`` (values are checked, timings are recorded, not
asserted: these machines are shared).  ``make bench-pytest-save`` / ``-compare`` keep a
baseline and fail on a regression.
"""

import torch
from oracles import assert_close_to_reference
from timing import best_time, record_ratio

import convac
from convac import fused


def test_dense_coefficient_tensor_vs_fill(benchmark):
    """HT, N=16, M=3, ranks 2 (43M entries) against filling a float64 array of that size.

    Goal: within 3x.
    """
    torch.set_num_threads(2)
    net = convac.HTNet(16, 3, 2, seed=0)
    tensor = benchmark.pedantic(convac.coefficient_tensor, args=(net,), rounds=3, iterations=1)
    assert tensor.shape == (3,) * 16 and torch.isfinite(tensor).all()
    subject = min(benchmark.stats.stats.data)
    baseline = best_time(lambda: torch.empty((3,) * 16, dtype=torch.float64).fill_(1.0), 3)
    record_ratio(benchmark, "coefficient_vs_fill", subject, baseline, "<= 3")


def _ht_macs(net: convac.ConvAC, batch: int) -> int:
    """Multiply-adds of the convs of a forward pass."""
    s = net.schedule
    fan_in = (s.n_channels,) + s.widths[:-1]
    return batch * sum(s.nodes[l] * s.widths[l] * fan_in[l] for l in range(s.n_levels + 1))


def test_ht_forward_vs_bmm(benchmark):
    """HT forward, batch 1024, N=64, M=16, ranks 16, float32, against one torch.bmm with
    the same number of multiply-adds.  Goal: at least 50% of its throughput.

    Without autograd on CPU the forward is the fused pass (convac.fused); the torch
    forward's fraction is recorded beside it for the record.
    """
    torch.set_num_threads(2)
    gen = torch.Generator().manual_seed(0)
    net = convac.HTNet(64, 16, 16, seed=0)
    feats = torch.rand(1024, 64, 16, generator=gen)
    macs = _ht_macs(net, 1024)
    groups = round(macs / (1024 * 16 * 16))  # (groups, 1024, 16) @ (groups, 16, 16)
    a = torch.rand(groups, 1024, 16, generator=gen)
    b = torch.rand(groups, 16, 16, generator=gen)
    # The baseline runs first: its 8 MB outputs lift glibc's mmap threshold, so neither
    # side pays a fresh mmap and page faults per call (a cold process does: the torch
    # forward then takes about 3x longer until some larger block has been freed).
    baseline = best_time(lambda: torch.bmm(a, b), 30)
    with torch.no_grad():
        assert fused.fused_applicable(net, feats), fused.fused_build().reason
        out = benchmark.pedantic(net, args=(feats,), rounds=30, iterations=1, warmup_rounds=5)
        net.use_fused_kernel = False
        torch_path = best_time(lambda: net(feats), 30)
        reference = net(feats)
    assert out.shape == (1024, 1) and torch.isfinite(out).all()
    assert_close_to_reference(out, reference.double(), torch.float32)
    subject = min(benchmark.stats.stats.data)
    ratio = record_ratio(benchmark, "ht_forward_vs_bmm", subject, baseline,
                         "bmm/forward throughput >= 0.5")
    benchmark.extra_info.update({"throughput_fraction": 1 / ratio, "macs": macs,
                                 "torch_forward_s": torch_path,
                                 "torch_forward_throughput_fraction": baseline / torch_path})
    print(f"throughput fraction of bmm: {1 / ratio:.3f} fused, {baseline / torch_path:.3f} "
          f"torch forward ({macs} multiply-adds)")


def test_log_space_forward(benchmark):
    """Log-space forward at the same size, for the record (no goal)."""
    net = convac.HTNet(64, 16, 16, seed=0)
    feats = torch.rand(1024, 64, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        log_abs, sign = benchmark.pedantic(net.forward_log, args=(feats,), rounds=5,
                                           iterations=1)
        reference = net.double()(feats.double())
    # float32 log space against the float64 plain forward: signs must agree (accuracy is
    # tested in tests/test_network.py; signed sums that cancel limit float32 magnitudes)
    assert log_abs.shape == (1024, 1) and torch.isfinite(log_abs).all()
    assert torch.equal(sign.double(), torch.sign(reference))
