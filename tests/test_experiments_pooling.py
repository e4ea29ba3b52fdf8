"""ICLR 2017 pooling geometry: tasks, geometries, partition ranks, quick training."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("flint")

from convac.experiments import pooling_geometry as pg  # noqa: E402


@pytest.mark.parametrize("geometry", ["square", "mirror"])
def test_geometry_is_a_permutation_with_its_windows(geometry):
    order = pg.geometry_order(geometry)
    assert sorted(order.tolist()) == list(range(64))
    rows, cols = np.divmod(order[:4], 8)
    if geometry == "square":
        assert set(zip(rows.tolist(), cols.tolist(), strict=True)) == {(0, 0), (0, 1), (1, 0),
                                                                       (1, 1)}
    else:  # a pixel and its three reflections
        assert set(zip(rows.tolist(), cols.tolist(), strict=True)) == {(0, 0), (0, 7), (7, 0),
                                                                       (7, 7)}


def test_tasks_are_balanced_and_labelled_by_their_property():
    x, y = pg.make_task("symmetry", 200, 0)
    sym = (x == x[:, :, ::-1]).all(axis=(1, 2))
    assert (sym == (y > 0)).all() and (y > 0).mean() == 0.5
    x, y = pg.make_task("closedness", 200, 1)
    assert (x.sum(axis=(1, 2))[y > 0] > 0).all() and (y > 0).mean() == 0.5
    with pytest.raises(ValueError, match="task"):
        pg.make_task("parity", 4, 0)


def test_partition_ranks_follow_the_geometry():
    sq = pg.partition_ranks("square", (4, 4), side=4)
    mi = pg.partition_ranks("mirror", (4, 4), side=4)
    # square: coarse halves capped by the top width, interleaved columns exponential
    assert sq["left|right"] == (4, 4) and sq["interleaved"][0] > 4
    # mirror: left|right exponential, exact rank equal to its min-cut
    assert mi["left|right"][0] == mi["left|right"][1] > 4
    # a local partition made of whole mirror windows: square high, mirror capped
    assert sq["mirrored-checkerboard"][0] > 4 == mi["mirrored-checkerboard"][0]
    for exact, bound in list(sq.values()) + list(mi.values()):
        assert exact <= bound


@pytest.mark.slow
def test_quick_training_favours_the_matching_geometry():
    rows = {(r["task"], r["geometry"]): r["accuracy"] for r in pg.quick_table()}
    assert rows[("symmetry", "mirror")] > rows[("symmetry", "square")]
    assert rows[("closedness", "square")] > rows[("closedness", "mirror")]
