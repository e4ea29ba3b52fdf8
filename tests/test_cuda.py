"""On a GPU the package uses it: every network computation on a CUDA network agrees with
the same computation on the CPU copy (float64: entrywise; ranks and bounds: exactly).

Skipped where no CUDA device is visible (CI has none); run on a GPU machine with
``python -m pytest tests/test_cuda.py``.
"""

import copy

import pytest
import torch
from oracles import NET_CASES, assert_close, make_net

import convac

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")

CASES = sorted(NET_CASES)


def _features(net, batch=9, seed=0, device="cpu", dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    feats = torch.randn(batch, net.n_patches, net.n_channels, generator=gen, dtype=dtype)
    return feats.to(device)


@pytest.mark.parametrize("geometry", ["contiguous", "mirror"])
@pytest.mark.parametrize("case", CASES)
def test_forward_and_gradients_on_cuda_equal_cpu(case, geometry):
    cpu = make_net(case, seed=3, geometry=geometry)
    gpu = copy.deepcopy(cpu).cuda()
    feats = _features(cpu)
    with torch.no_grad():
        out = gpu(feats.cuda())
        assert out.device.type == "cuda"
        assert_close(out.cpu(), cpu(feats))
        assert_close(gpu.forward_log(feats.cuda())[0].cpu(), cpu.forward_log(feats)[0])
    g_gpu = torch.autograd.grad(gpu(feats.cuda()).sum(), list(gpu.parameters()))
    g_cpu = torch.autograd.grad(cpu(feats).sum(), list(cpu.parameters()))
    for a, b in zip(g_gpu, g_cpu, strict=True):
        assert a.device.type == "cuda"
        assert_close(a.cpu(), b)


def test_float32_forward_on_cuda_matches_float64_cpu():
    cpu = make_net("ht", seed=5)
    gpu = copy.deepcopy(cpu).float().cuda()
    feats = _features(cpu, batch=64)
    with torch.no_grad():
        ref = cpu(feats)
        out = gpu(feats.float().cuda()).double().cpu()
    scale = ref.abs().max()
    torch.testing.assert_close(out / scale, ref / scale, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("case", ["cp", "ht", "mixed"])
def test_coefficient_tensor_ranks_and_bounds_of_a_cuda_network(case):
    cpu = make_net(case, seed=11)
    gpu = copy.deepcopy(cpu).cuda()
    a_cpu = convac.coefficient_tensor(cpu)
    assert_close(convac.coefficient_tensor(gpu).cpu(), a_cpu)
    assert_close(convac.coefficient_tensor_by_forward(gpu).cpu(), a_cpu)
    for method in ("dense", "structured", "exact"):
        assert (int(convac.matricization_rank(gpu, "odd-even", method=method))
                == int(convac.matricization_rank(cpu, "odd-even", method=method))), method
    assert (convac.min_cut_bound(gpu, "odd-even")
            == convac.min_cut_bound(cpu, "odd-even"))


def test_state_and_feature_errors_name_the_devices():
    gpu = make_net("ht", seed=1).cuda()
    with pytest.raises(ValueError, match="cuda"):
        gpu(_features(gpu))  # CPU features, CUDA network
    gpu.weights[1].data = gpu.weights[1].data.cpu()
    with pytest.raises(ValueError, match=r"weights\[1\]"):
        gpu(_features(gpu, device="cuda"))


def test_training_on_cuda_follows_fused_adam_steps():
    net = convac.HTNet(8, 3, 2, seed=0, dtype=torch.float64).cuda()
    opt = torch.optim.Adam(net.parameters(), lr=0.05, fused=True)
    feats = _features(net, device="cuda")
    for _ in range(3):
        opt.zero_grad()
        net(feats).pow(2).mean().backward()
        opt.step()
    with torch.no_grad():
        assert_close(net(feats).cpu(), copy.deepcopy(net).cpu()(feats.cpu()))


@pytest.mark.slow
@pytest.mark.parametrize("case", ["cp", "ht", "mixed"])
def test_compiled_forward_on_cuda(case):
    """``torch.compile`` (inductor, Triton kernels) on the GPU: outputs and gradients
    equal the eager CUDA forward."""
    net = make_net(case, seed=7, shared=case == "mixed").cuda()
    compiled = torch.compile(net)
    feats = _features(net, device="cuda")
    with torch.no_grad():
        assert_close(compiled(feats), net(feats))
    out = compiled(feats)
    grads = torch.autograd.grad(out.sum(), list(net.parameters()))
    eager = torch.autograd.grad(net(feats).sum(), list(net.parameters()))
    for g, e in zip(grads, eager, strict=True):
        assert_close(g, e)


@pytest.mark.parametrize("compiled", [False, True])
def test_forward_makes_no_host_sync_per_call(compiled):
    """After the first call (which validates the order and compiles), the forward, eager or
    ``torch.compile(fullgraph=True)``, with and without autograd, never synchronises the
    host with the device: the state is checked where it changes."""
    cpu = make_net("mixed", seed=3, geometry="mirror")
    gpu = copy.deepcopy(cpu).cuda()
    if compiled:
        torch._dynamo.reset()
    forward = torch.compile(gpu, fullgraph=True) if compiled else gpu
    feats = _features(cpu, device="cuda")
    with torch.no_grad():
        forward(feats)
    forward(feats).sum().backward()
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        with torch.no_grad():
            out = forward(feats)
        grad_out = forward(feats)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert_close(out.cpu(), cpu(feats.cpu()))
    assert_close(grad_out.detach().cpu(), cpu(feats.cpu()).detach())
