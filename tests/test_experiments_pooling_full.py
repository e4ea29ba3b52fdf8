"""ICLR 2017 pooling geometry at full scale: blob scores on hand-made images, the data-set
cache, the geometries against the authors' per-level permutation, the networks against
brute-force oracles, the grid and its summary."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("scipy")

from oracles import assert_close  # noqa: E402

from convac.experiments import blobs  # noqa: E402
from convac.experiments import pooling_full as pf  # noqa: E402
from convac.validate import InvalidValueError  # noqa: E402


def _img(rows) -> np.ndarray:
    return np.array([[c == "#" for c in r] for r in rows])


# -- scores --------------------------------------------------------------------------
@pytest.mark.parametrize(("rows", "expected"), [
    (["###", "#.#", "###"], 8 / 9),    # a ring: the closing fills its hole
    (["#.#", "#.#", "###"], 7 / 8),    # the ring opened at the top: the gap is not closed
    (["###", "###"], 1.0),             # a filled block is closed
    (["#"], 1.0),                      # one pixel: closing gives it back
    (["#.#"], 1.0),                    # a one-pixel gap between two pixels stays open
])
def test_closedness_of_hand_made_images(rows, expected):
    assert blobs.closedness(_img(rows)) == pytest.approx(expected)


@pytest.mark.parametrize(("rows", "expected"), [
    (["#..#"], 1.0), (["##.."], 0.0), (["###."], 2 / 3), ([".##.", "#..#"], 1.0),
    (["#...", "#..#"], 2 / 3),
])
def test_symmetry_of_hand_made_images(rows, expected):
    assert blobs.symmetry(_img(rows)) == pytest.approx(expected)


def test_scores_refuse_empty_and_non_2d_images():
    with pytest.raises(InvalidValueError, match="no lit pixel"):
        blobs.closedness(np.zeros((4, 4)))
    with pytest.raises(InvalidValueError, match="2-d"):
        blobs.symmetry(np.ones(4))


def test_generator_is_seeded_and_scores_its_images():
    a = blobs.generate(40, seed=3)
    b = blobs.generate(40, seed=3)
    c = blobs.generate(40, seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])
    images, cls, sym = a
    assert images.shape == (40, 32, 32) and images.dtype == np.uint8
    assert images.reshape(40, -1).any(1).all()  # no empty image
    assert ((cls > 0) & (cls <= 1)).all() and ((sym >= 0) & (sym <= 1)).all()
    for i in range(5):  # the closedness score is the image's own
        assert cls[i] == blobs.closedness(images[i])


def test_task_split_takes_the_bottom_and_top_share_stably():
    scores = np.array([0.5, 0.1, 0.9, 0.5, 0.3, 0.7, 0.5, 0.2, 0.8, 0.6])
    idx, labels = blobs.task_split(scores, 0.4)
    assert idx.tolist() == [1, 7, 4, 0, 9, 5, 8, 2]  # of the tied 0.5s, the first one
    assert labels.tolist() == [0] * 4 + [1] * 4
    assert max(scores[idx[:4]]) <= min(scores[idx[4:]])


def test_data_set_is_cached_by_parameters_and_seed(tmp_path):
    a = blobs.load_blobs(seed=1, n_train=12, n_test=6, root=str(tmp_path))
    b = blobs.load_blobs(seed=1, n_train=12, n_test=6, root=str(tmp_path))
    c = blobs.load_blobs(seed=2, n_train=12, n_test=6, root=str(tmp_path))
    assert a["path"] == b["path"] != c["path"]
    assert np.array_equal(a["train_images"], b["train_images"])
    assert a["test_images"].shape == (6, 32, 32)
    assert len(list(tmp_path.iterdir())) == 2  # two files, no temporary left behind


# -- geometry ------------------------------------------------------------------------
def _quad2_leaf_sets(side: int, mirror: bool) -> list:
    """The pixels under every node, level by level, by the authors' rule: before each
    2x2 pooling, ``top[h, w] = bottom[src(h), src(w)]`` with ``src(h) = h / 2`` for even
    ``h`` and ``side - 1 - h / 2`` for odd ``h`` (the identity for square pooling)."""
    m = [[{i * side + j} for j in range(side)] for i in range(side)]
    out = []
    s = side
    while s > 1:
        if mirror:
            src = [h // 2 if h % 2 == 0 else s - 1 - h // 2 for h in range(s)]
            m = [[m[src[h]][src[w]] for w in range(s)] for h in range(s)]
        s //= 2
        m = [[m[2 * a][2 * b] | m[2 * a][2 * b + 1] | m[2 * a + 1][2 * b] | m[2 * a + 1][2 * b + 1]
              for b in range(s)] for a in range(s)]
        out.append(sorted(tuple(sorted(x)) for row in m for x in row))
    return out


@pytest.mark.parametrize("geometry", pf.GEOMETRIES)
@pytest.mark.parametrize("side", [4, 8, 32])
def test_tree_order_pools_what_the_authors_permutation_pools(geometry, side):
    order = pf.tree_order(geometry, side)
    assert sorted(order.tolist()) == list(range(side * side))
    expected = _quad2_leaf_sets(side, geometry == "mirror")
    for level, sets in enumerate(expected, start=1):
        size = 4 ** level
        got = sorted(tuple(sorted(order[k:k + size].tolist()))
                     for k in range(0, len(order), size))
        assert got == sets


def test_tree_order_refuses_bad_input():
    with pytest.raises(InvalidValueError, match="geometry"):
        pf.tree_order("diagonal", 8)
    with pytest.raises(InvalidValueError, match="power of two"):
        pf.tree_order("square", 12)


# -- networks ------------------------------------------------------------------------
def _reference_relu(net: pf.BlobNet, images: torch.Tensor, mirror: bool) -> torch.Tensor:
    """The authors' ReLU network on 2-D maps: conv, ReLU, QUAD2 permutation, 2x2 pool."""
    x = torch.nn.functional.one_hot(images, 2).permute(0, 3, 1, 2).double()  # (B, 2, s, s)
    n_levels = len(net.windows)
    for level in range(n_levels + 1):
        w = net.weight[level].double()
        x = torch.einsum("oi,bihw->bohw", w, x) + net.bias[level].double()[:, None, None]
        if level == n_levels:
            return x[:, :, 0, 0]
        x = torch.relu(x)
        s = x.shape[-1]
        if mirror:
            src = torch.tensor([h // 2 if h % 2 == 0 else s - 1 - h // 2 for h in range(s)])
            x = x[:, :, src][:, :, :, src]
        pool = torch.nn.functional.avg_pool2d if net.kind == "relu-avg" else \
            torch.nn.functional.max_pool2d
        x = pool(x, 2)
    raise AssertionError("unreachable")


@pytest.mark.parametrize("kind", ["relu-avg", "relu-max"])
@pytest.mark.parametrize("geometry", pf.GEOMETRIES)
def test_relu_networks_match_the_2d_reference(kind, geometry):
    side = 8
    net = pf.BlobNet(kind, 5, (4, 4, 4), seed=2).double()
    with torch.no_grad():  # biases away from zero, so the ReLUs cut
        for b in net.bias:
            b.copy_(torch.randn(b.shape, generator=torch.Generator().manual_seed(9),
                                dtype=b.dtype) * 0.3)
    images = torch.randint(0, 2, (6, side, side), generator=torch.Generator().manual_seed(1))
    order = torch.as_tensor(pf.tree_order(geometry, side))
    got = net(images.reshape(6, -1)[:, order])
    want = _reference_relu(net, images, geometry == "mirror")
    assert_close(got, want)


@pytest.mark.parametrize("geometry", pf.GEOMETRIES)
def test_log_space_circuit_is_the_log_of_convac(geometry):
    import convac

    side, width = 4, 3
    net = pf.BlobNet("cac", width, (4, 4), seed=5).double()
    order = pf.tree_order(geometry, side)
    ref = convac.ConvAC(side * side, 2, (4, 4), [width, width], n_outputs=2, shared=True,
                        geometry=order.tolist(), dtype=torch.float64)
    with torch.no_grad():
        for mine, theirs in zip(net.weight, ref.weights, strict=True):
            theirs.copy_(torch.exp(mine))  # positive weights exp(b)
    images = torch.randint(0, 2, (7, side * side), generator=torch.Generator().manual_seed(4))
    want = torch.log(ref(torch.nn.functional.one_hot(images, 2).double()))
    assert_close(net(images[:, order]), want)


@pytest.mark.parametrize("kind", pf.KINDS)
def test_shallow_count_path_matches_pixel_by_pixel(kind):
    net = pf.BlobNet(kind, 6, (64,), seed=3).double()
    x = torch.randint(0, 2, (9, 64), generator=torch.Generator().manual_seed(2))
    x[0], x[1] = 0, 1  # one colour only: max pooling sees one value
    assert_close(net(x), net(x, counts=False))


def test_blobnet_refuses_an_unknown_kind():
    with pytest.raises(InvalidValueError, match="kind"):
        pf.BlobNet("tanh", 4, (4,))


def test_training_fits_a_separable_toy_task():
    # label = the majority colour (weights shared over the image make the circuit
    # invariant under the tree's symmetries, so the task must be too)
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(512, 64, generator=gen) < torch.rand(512, 1, generator=gen)).long()
    x = x[x.sum(1) != 32]
    y = (x.sum(1) > 32).long()
    net = pf.BlobNet("cac", 4, (4, 4, 4), seed=0)
    pf.train(net, x, y, steps=300, seed=0)
    assert pf.accuracy(net, x, y) > 0.95


# -- ranks ---------------------------------------------------------------------------
def test_partition_ranks_follow_the_geometry():
    sq = pf.partition_ranks("square", 8, side=4, exact=True)
    mi = pf.partition_ranks("mirror", 8, side=4, exact=True)
    for exact, bound in list(sq.values()) + list(mi.values()):
        assert exact <= bound
    assert sq["left|right"] == (8, 8) and sq["top|bottom"] == (8, 8)
    assert sq["interleaved (checkerboard)"][0] > 8 and mi["left|right"][0] > 8
    assert mi["mirrored checkerboard"][1] == 8 < sq["mirrored checkerboard"][0]
    full = pf.partition_ranks("square", 16)
    assert full["left|right"] == (None, 16) and full["odd|even columns"][1] > 2 ** 100


# -- grid and summary ----------------------------------------------------------------
def test_grid_runs_one_seed_of_everything_first():
    exp = pf.experiment()
    configs = [exp.config(i) for i in range(exp.size)]
    assert exp.size == 3 * (2 * 2 * 3 * 5 + 2 * 3 * 7)
    assert len({exp.key(c) for c in configs}) == exp.size
    seeds = [c["seed"] for c in configs]
    assert seeds == sorted(seeds)
    first = [c for c in configs if c["seed"] == 0]
    deep = [c["width"] for c in first if c["depth"] == "deep"]
    assert deep == sorted(deep)  # small widths first
    assert {c["width"] for c in first[:24]} == {8, 16}  # both geometries compared first
    assert all(c["depth"] == "shallow" for c in first[24:24 + 42])
    pairs = [(c["task"], c["kind"]) for c in first[:4]]  # both geometries of a task in turn
    assert pairs == [("closedness", "cac")] * 2 + [("symmetry", "cac")] * 2
    assert {c["geometry"] for c in first[:2]} == {"square", "mirror"}
    assert all(c["steps"] == 15_000 and c["n_train"] == 25_000 for c in configs)


@pytest.mark.slow
def test_quick_grid_runs_is_published_and_shown(monkeypatch, tmp_path):
    pytest.importorskip("pyarrow")
    from convac.bench.report.experiments import _pooling_full
    from convac.experiments.publish import write_published
    from convac.experiments.runner import run_experiment
    from convac.experiments.store import ResultStore

    monkeypatch.setenv("CONVAC_CACHE", str(tmp_path))
    exp = pf.experiment(seeds=1, steps=30, deep_widths=(4,), shallow_widths=(8,),
                        n_train=300, n_test=200)
    store = ResultStore(str(tmp_path / "store"))
    run_experiment(exp, store, sample=8, seed=0, scheduler="inline", progress=False)
    records = store.records()
    write_published("pooling-geometry-full", records, store, str(tmp_path / "pub.json"))
    import json

    doc = json.loads((tmp_path / "pub.json").read_text())
    assert doc["records"] == 8 and doc["grid_size"] == exp.size
    from_summary = _pooling_full(None, str(tmp_path), doc)

    def computes(*args, **kwargs):
        raise AssertionError("the report computed ranks")

    with monkeypatch.context() as patch:  # the report only reads
        patch.setattr(pf, "partition_ranks", computes)
        from_store = _pooling_full(records, str(tmp_path))
    assert f"<b>8 of {exp.size} trainings done</b>" in from_summary
    # the same tables, but the ranks, which only the published summary holds
    missing = "computes and publishes them"
    assert from_store.count(missing) == 2 and missing not in from_summary
    store_tables = from_store[from_store.index("<table>"):].split("<table>")
    summary_tables = from_summary[from_summary.index("<table>"):].split("<table>")
    assert len(summary_tables) == len(store_tables) + 2
    assert store_tables[:2] == summary_tables[:2]
    records = pf.quick_records()
    assert all(r["status"] == "ok" for r in records), [r["error"] for r in records]
    records.append({"status": "error", "error": "boom", "result": None,
                    "config": {**records[0]["config"], "seed": 1}})
    s = pf.summarize(records)
    assert s["n_trainings_done"] == len(records) - 1 and len(s["errors"]) == 1
    for cell in s["cells"]:
        assert 0 <= cell["test_min"] <= cell["test"] <= cell["test_max"] <= 1
    text = pf.format_summary(records, grid_size=100)
    assert text.startswith(f"{len(records) - 1} of 100 trainings done (1 failed)")
