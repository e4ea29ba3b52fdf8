"""The fused CPU forward (convac.fused) against the torch forward and the one-hot oracle."""

import itertools
import tempfile
import warnings
from pathlib import Path

import pytest
import torch
from oracles import assert_close, assert_close_to_reference, make_net

import convac
from convac import fused

needs_kernel = pytest.mark.skipif(
    fused._compiler() is None or not fused.fused_build().available,
    reason="no C compiler on this machine (test_kernel_builds_where_a_compiler_exists says "
           "whether one should have worked)",
)


def outputs(net, feats):
    """(fused, torch in place, torch with autograd) outputs of ``net`` on ``feats``."""
    with torch.no_grad():
        assert net.use_fused_kernel and fused.fused_applicable(net, feats)
        fast = net(feats)
        net.use_fused_kernel = False
        try:
            in_place = net(feats)
        finally:
            net.use_fused_kernel = True
    return fast, in_place, net(feats).detach()


def test_kernel_builds_where_a_compiler_exists():
    if fused._compiler() is None:
        pytest.skip("no C compiler ($CC, cc, gcc, clang) on this machine")
    build = fused.fused_build()
    assert build.available, build.reason
    assert build.path.is_file() and build.flags[0] == "-O3"


@needs_kernel
@pytest.mark.parametrize("geometry", ["contiguous", "mirror"])
@pytest.mark.parametrize("shared", [False, True])
def test_fused_matches_torch_paths_and_one_hot_oracle(net_case, shared, geometry):
    net = make_net(net_case, seed=3, shared=shared, geometry=geometry)  # float64
    m, n = net.n_channels, net.n_patches
    eye = torch.eye(m, dtype=torch.float64)
    one_hot = eye[torch.tensor(list(itertools.product(range(m), repeat=n)))]  # (M^N, N, M)
    fast, in_place, autograd = outputs(net, one_hot)
    assert_close(in_place, autograd)
    assert_close(fast, autograd)
    for y in range(net.n_outputs):  # the one-hot forward is the coefficient tensor
        assert_close(fast[:, y].reshape((m,) * n), convac.coefficient_tensor(net, y))


@needs_kernel
@pytest.mark.parametrize(
    "kwargs",
    [
        # widths and channels off the vector width (16 float32 / 8 float64 lanes)
        dict(n_patches=8, n_channels=5, windows=(2, 2, 2), ranks=(3, 17, 9), n_outputs=3),
        dict(n_patches=4, n_channels=40, windows=(2, 2), ranks=(33, 1), n_outputs=20),
        dict(n_patches=6, n_channels=3, windows=(6,), ranks=(24,), n_outputs=2),  # CP
        dict(n_patches=12, n_channels=4, windows=(3, 4), ranks=(7, 5), shared=True),
        dict(n_patches=8, n_channels=3, windows=(2, 4), ranks=2,
             geometry=[5, 0, 7, 2, 6, 1, 3, 4]),
    ],
)
@pytest.mark.parametrize("batch", [0, 1, 7, 8, 17, 64])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fused_odd_sizes(kwargs, batch, dtype):
    net = convac.ConvAC(**kwargs, seed=11, dtype=dtype)
    gen = torch.Generator().manual_seed(batch)
    feats = torch.rand(batch, net.n_patches, net.n_channels, generator=gen, dtype=dtype)
    fast, in_place, autograd = outputs(net, feats)
    assert fast.shape == (batch, net.n_outputs) and fast.dtype == dtype
    reference = net.double()(feats.double()).detach()
    for result in (fast, in_place, autograd):
        assert_close_to_reference(result, reference, dtype)


@needs_kernel
def test_fused_float32_against_float64_reference_at_benchmark_size():
    net = convac.HTNet(64, 16, 16, seed=0)
    feats = torch.rand(1024, 64, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        fast = net(feats)
        reference = net.double()(feats.double())
    assert_close_to_reference(fast, reference, torch.float32)


@needs_kernel
def test_fused_tracks_weight_changes():
    """Packed weights are cached per parameter version: in-place updates, new seeds,
    optimiser steps and dtype changes must all show up in the next forward."""
    net = convac.HTNet(8, 3, (4, 2, 3), n_outputs=2, seed=0).double()
    feats = torch.rand(10, 8, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))

    def check():
        fast, _, autograd = outputs(net, feats)
        assert_close(fast, autograd)
        return fast

    first = check()
    with torch.no_grad():
        net.weights[1].mul_(-2.0)  # an optimiser step writes in place
    assert not torch.allclose(check(), first)
    net.reset_parameters(seed=5)
    check()
    optimiser = torch.optim.SGD(net.parameters(), lr=0.1)
    net(feats).sum().backward()
    optimiser.step()
    check()
    net.float()
    fast, _, autograd = outputs(net, feats.float())
    assert fast.dtype == torch.float32
    assert_close(fast, autograd, torch.float32)


@needs_kernel
def test_fused_threads_agree_bitwise():
    """Samples are independent: the thread count changes nothing, not even rounding."""
    net = convac.HTNet(16, 6, 5, n_outputs=2, seed=1)
    threads = torch.get_num_threads()
    for batch in (20, 333):  # chunks of 8 and 16 samples
        feats = torch.rand(batch, 16, 6, generator=torch.Generator().manual_seed(0))
        try:
            results = []
            for n in (1, 2, 3):
                torch.set_num_threads(n)
                with torch.no_grad():
                    results.append(net(feats))
        finally:
            torch.set_num_threads(threads)
        assert all(torch.equal(results[0], r) for r in results[1:])


@needs_kernel
def test_fused_non_finite_inputs_like_the_torch_forward():
    """inf and nan propagate as in the torch forward: the same terms are summed (padded
    lanes never enter a sum), so only the order of finite terms differs."""
    net = convac.HTNet(8, 3, (5, 3, 2), n_outputs=3, seed=4).double()
    feats = torch.rand(24, 8, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    feats[1, 2, 0] = float("inf")
    feats[5, 7, 2] = -float("inf")
    feats[9, 0, 1] = float("nan")
    feats[13] = float("inf")
    fast, in_place, autograd = outputs(net, feats)
    for other in (in_place, autograd):
        assert torch.equal(torch.isnan(fast), torch.isnan(other))
        assert torch.equal(torch.isposinf(fast), torch.isposinf(other))
        assert torch.equal(torch.isneginf(fast), torch.isneginf(other))
    finite = torch.isfinite(autograd)
    assert not finite.all() and finite.any()
    assert_close(fast[finite], autograd[finite])


@needs_kernel
def test_fused_input_layouts_and_dtypes():
    """Non-contiguous features and features of another dtype, as the torch forward takes them."""
    net = convac.HTNet(8, 4, 3, seed=2)  # float32
    stored = torch.rand(4, 8, 21, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    feats = stored.transpose(0, 2)[:, :, ::2].transpose(0, 2)[:, :, :4]  # (4, 8, 4), strided
    before = feats.clone()
    fast, in_place, autograd = outputs(net, feats)
    assert fast.dtype == torch.float32
    assert_close(fast, autograd, torch.float32)
    assert torch.equal(feats, before)


@needs_kernel
def test_autograd_and_other_devices_bypass_the_kernel():
    net = convac.HTNet(8, 3, 2, seed=0)
    feats = torch.rand(5, 8, 3)
    out = net(feats)  # parameters require grad: the torch forward records a graph
    assert out.requires_grad
    out.sum().backward()
    assert all(w.grad is not None for w in net.weights)
    assert not fused.fused_applicable(net.half(), feats.half())


@needs_kernel
def test_fused_rejects_bad_features_like_the_torch_forward():
    net = convac.HTNet(8, 3, 2, seed=0)
    with torch.no_grad(), pytest.raises(ValueError, match=r"n_channels=3\), got \(5, 8, 4\)"):
        net(torch.rand(5, 8, 4))


@pytest.fixture
def fresh_build(monkeypatch, tmp_path):
    """A process-wide rebuild against a private cache, restored afterwards."""
    monkeypatch.setenv("CONVAC_CACHE_DIR", str(tmp_path))
    fused.fused_build.cache_clear()
    yield tmp_path
    monkeypatch.undo()
    fused.fused_build.cache_clear()


@needs_kernel
def test_build_is_cached_on_disk(fresh_build):
    first = fused.fused_build()
    assert first.available and first.path.parent == fresh_build
    stamp = first.path.stat().st_mtime_ns
    fused.fused_build.cache_clear()
    again = fused.fused_build()
    assert again.path == first.path and again.path.stat().st_mtime_ns == stamp
    assert not list(fresh_build.glob("*.part"))


@needs_kernel
def test_unwritable_cache_falls_back_to_a_temporary_folder(fresh_build, monkeypatch):
    blocker = fresh_build / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("CONVAC_CACHE_DIR", str(blocker / "cache"))  # under a file: no mkdir
    build = fused.fused_build()
    assert build.available and build.path.parent.parent == Path(tempfile.gettempdir())


@needs_kernel
def test_build_without_openmp_or_native_flags(fresh_build, monkeypatch):
    """The last flag set (no OpenMP, no -march=native) is what a bare compiler gets."""
    monkeypatch.setattr(fused, "FLAG_SETS", (("-O3",),))
    build = fused.fused_build()
    assert build.available and not build.openmp
    net = convac.HTNet(8, 3, (4, 2, 3), n_outputs=2, seed=0).double()
    fast, in_place, autograd = outputs(net, torch.rand(21, 8, 3, dtype=torch.float64))
    assert_close(fast, autograd)


def test_turned_off_by_environment(fresh_build, monkeypatch):
    monkeypatch.setenv("CONVAC_FUSED", "0")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # asked for: no warning
        build = fused.fused_build()
    assert not build.available and "CONVAC_FUSED=0" in build.reason
    net = convac.HTNet(4, 2, 2, seed=0).double()
    feats = torch.rand(3, 4, 2, dtype=torch.float64)
    assert not fused.fused_applicable(net, feats)
    with torch.no_grad():
        assert_close(net(feats), net(feats.clone().requires_grad_()).detach())
    with pytest.raises(RuntimeError, match="CONVAC_FUSED=0"):
        fused.fused_forward(net, feats)


@pytest.mark.parametrize("compiler", ["missing", "broken"])
def test_no_working_compiler_warns_and_falls_back(fresh_build, monkeypatch, compiler):
    if compiler == "missing":
        monkeypatch.setattr(fused, "_compiler", lambda: None)
        expected = "no C compiler found"
    else:
        monkeypatch.setenv("CC", "false")  # exits 1 for every flag set
        expected = "no build worked"
    with pytest.warns(RuntimeWarning, match=expected):
        build = fused.fused_build()
    assert not build.available and expected in build.reason
    net = convac.CPNet(4, 3, 2, seed=1).double()
    feats = torch.rand(6, 4, 3, dtype=torch.float64)
    with torch.no_grad():
        fallback = net(feats)
    assert_close(fallback, net(feats).detach())
    assert not list(fresh_build.glob("*.so"))
