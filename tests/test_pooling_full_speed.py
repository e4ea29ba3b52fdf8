"""The ICLR 2017 blob networks' fast training path against the pixel-by-pixel oracle: the
forward over each batch's distinct subtrees, its gradients, a few Adam steps of the
training loop, the distinct subtrees themselves, and the provenance stored with each
training."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from oracles import assert_close

from convac.experiments import pooling_full as pf
from convac.experiments.runner import code_provenance, evaluate
from convac.validate import InvalidValueError

SIDES = {4: (4, 4), 8: (4, 4, 4), 16: (4, 4, 4, 4)}


def _images(n: int, side: int, seed: int) -> torch.Tensor:
    """Random binary images in tree order, with an all-zero and an all-one image, one
    half lit, and densities from sparse to dense (many uniform 2x2 windows)."""
    gen = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, side * side, generator=gen)
         < torch.rand(n, 1, generator=gen)).long()  # (n, N)
    x[0], x[1] = 0, 1
    x[2, : side * side // 2] = 1
    x[2, side * side // 2:] = 0
    return x


def _net(kind: str, width: int, side: int, seed: int = 0) -> pf.BlobNet:
    net = pf.BlobNet(kind, width, SIDES[side], seed=seed).double()
    if kind != "cac":  # biases away from zero, so that the ReLUs cut
        gen = torch.Generator().manual_seed(seed + 100)
        with torch.no_grad():
            for b in net.bias:
                b.copy_(torch.randn(b.shape, generator=gen, dtype=b.dtype) * 0.5)
    return net


def _canonical(pixels: list, windows) -> tuple:
    """A node as the sorted tuple of its children's canonical forms (leaves: the pixel
    value): equal exactly when the pooling trees are equal up to reordering windows."""
    nodes = list(pixels)
    for w in windows:
        nodes = [tuple(sorted(nodes[i:i + w])) for i in range(0, len(nodes), w)]
    return nodes[0]


def _expand(children: list, level: int, i: int):
    if level < 0:
        return i
    return tuple(sorted(_expand(children, level - 1, int(c)) for c in children[level][i]))


@pytest.mark.parametrize("side", [4, 8, 16])
def test_distinct_subtrees_are_the_distinct_canonical_trees(side):
    windows = SIDES[side]
    x = _images(24, side, seed=side)
    children, root = pf.distinct_subtrees(x, windows)
    assert root.shape == (24,)
    for level, rows in enumerate(children):
        forms = [_expand(children, level, i) for i in range(len(rows))]
        assert len(set(forms)) == len(forms)  # no node twice
        assert (rows[:, 1:] >= rows[:, :-1]).all()  # each window's multiset, sorted
    for b in range(24):  # each image's root is its own tree
        assert _expand(children, len(windows) - 1, int(root[b])) == \
            _canonical(x[b].tolist(), windows)
    assert len(children[0]) == 5  # every multiset of 4 pixels, whatever the batch
    if side >= 8:
        assert len(children[1]) == 70  # every multiset of 4 of those 5


def test_multisets_enumerate_and_key_every_window():
    rows, powers, lookup = pf._multisets(3, 4)
    assert len(rows) == 15  # C(3 + 4 - 1, 4)
    for window in itertools.product(range(3), repeat=4):
        row = rows[lookup[powers[list(window)].sum()]]
        assert row.tolist() == sorted(window)


@pytest.mark.parametrize("kind", pf.KINDS)
@pytest.mark.parametrize("width", [1, 3, 8])
@pytest.mark.parametrize("geometry", pf.GEOMETRIES)
@pytest.mark.parametrize("side", [4, 8, 16])
def test_distinct_forward_and_gradients_equal_the_pixel_by_pixel_oracle(
        kind, width, geometry, side):
    net = _net(kind, width, side, seed=width)
    order = torch.as_tensor(pf.tree_order(geometry, side))
    x = _images(12, side, seed=width + side)[:, order]  # (B, N), tree order
    got = net(x)
    want = net(x, distinct=False)
    assert_close(got, want)
    probe = torch.randn(want.shape, generator=torch.Generator().manual_seed(3),
                        dtype=want.dtype)
    g_got = torch.autograd.grad((got * probe).sum(), list(net.parameters()))
    g_want = torch.autograd.grad((want * probe).sum(), list(net.parameters()))
    for a, b in zip(g_got, g_want, strict=True):
        assert_close(a, b)


@pytest.mark.parametrize("kind", pf.KINDS)
def test_sorting_path_equals_the_multiset_table(kind, monkeypatch):
    net = _net(kind, 4, 16)
    x = _images(10, 16, seed=5)
    table = net(x)
    monkeypatch.setattr(pf, "MULTISET_TABLE", 0)  # every level sorted and made unique
    children, _ = pf.distinct_subtrees(x, SIDES[16])
    assert len(children[0]) <= 5
    assert_close(net(x), table)


@pytest.mark.parametrize("kind", pf.KINDS)
def test_distinct_forward_at_the_papers_size(kind):
    net = pf.BlobNet(kind, 3, (4,) * 5, seed=1).double()
    x = _images(6, 32, seed=9)
    assert_close(net(x), net(x, distinct=False))


def _oracle_train(net, pixels, labels, steps, seed, batch):
    """The training loop pixel by pixel, one loss read per step (the loop before the
    distinct-subtree forward)."""
    gen = torch.Generator().manual_seed(int(seed) + 7919)
    opt, sched = pf._optimizer(net, steps)
    order, pos, tail = torch.randperm(len(labels), generator=gen), 0, []
    for _ in range(steps):
        if pos + batch > len(order):
            order, pos = torch.randperm(len(labels), generator=gen), 0
        idx = order[pos:pos + batch]
        pos += batch
        loss = torch.nn.functional.cross_entropy(net(pixels[idx], distinct=False),
                                                 labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        tail = (tail + [float(loss.detach())])[-100:]
    return float(np.mean(tail))


@pytest.mark.parametrize("kind", pf.KINDS)
def test_training_steps_give_the_oracles_parameters(kind):
    x = _images(40, 8, seed=11)
    y = (x.sum(1) > 32).long()
    fast, slow = _net(kind, 4, 8, seed=2), _net(kind, 4, 8, seed=2)
    # 12 steps of 8 over 40 images: a new epoch's shuffle inside, the lr drop at step 9
    loss_fast = pf.train(fast, x, y, steps=12, seed=3, batch=8)
    loss_slow = _oracle_train(slow, x, y, steps=12, seed=3, batch=8)
    assert_close(torch.tensor(loss_fast), torch.tensor(loss_slow))
    start = list(_net(kind, 4, 8, seed=2).parameters())
    for a, b, s in zip(fast.parameters(), slow.parameters(), start, strict=True):
        assert_close(a, b)
        assert not torch.equal(a, s)  # it trained


def test_forward_refuses_pixels_that_are_not_bits():
    net = pf.BlobNet("cac", 2, (4, 4))
    with pytest.raises(InvalidValueError, match="0 or 1, got values in"):
        net(torch.full((1, 16), 2))
    with pytest.raises(InvalidValueError, match="integer tensor"):
        net(torch.zeros(1, 16))
    with pytest.raises(InvalidValueError, match="0 or 1"):
        net(-torch.ones(1, 16, dtype=torch.long))


def test_each_training_stores_the_code_that_ran_it(tmp_path, monkeypatch):
    """A training stores its training code; the store's row names the commit (here as
    ``evaluate`` gives it).  Records from before the store's column carried both in the
    result, and those from before the distinct-subtree training neither: each is
    counted by its own label."""
    monkeypatch.setenv("CONVAC_CACHE", str(tmp_path))
    exp = pf.experiment(seeds=1, steps=3, deep_widths=(2,), shallow_widths=(),
                        kinds=("cac",), n_train=60, n_test=40)
    (new,) = evaluate(exp, sample=1, seed=0)
    here = code_provenance()
    assert new["code"] == here and new["result"]["training"] == pf.TRAINING_CODE
    assert "code" not in new["result"]
    label = pf.training_label(new)
    assert label.startswith(f"{pf.TRAINING_CODE} convac {here['convac']}")
    legacy = {**new, "code": None,
              "result": {**{k: v for k, v in new["result"].items() if k != "training"},
                         "code": {**here, "training": pf.TRAINING_CODE}}}
    pixel = {**new, "code": None,
             "result": {k: v for k, v in new["result"].items() if k != "training"}}
    assert pf.training_label(legacy) == label
    s = pf.summarize([new, legacy, pixel], ranks=False)
    assert s["code"] == {label: 2, "pixel-by-pixel (no code recorded)": 1}
    (cell,) = s["cells"]
    assert {k: v["n"] for k, v in cell["by_code"].items()} == s["code"]
