"""Published experiments (``convac.experiments``) at their seeded quick sizes.

Tracked, each designed lower-is-better: the Levine et al. sample's count of ranks above
the min-cut bound (0; anything else is a bug) and its non-tight fraction; the COLT 2016
depth sweep's deficit below Thm 3 (0); the ICLR 2017 pooling-geometry reproduction's
count of tasks the paper's geometry fails to win (0 reproduces the paper), and at the
paper's 32x32 scale whether square pooling wins closedness (quick: width 8, 1,000 steps);
the ICML 2016 rank distributions' counts of networks below the maximal rank (exact ranks:
any change is a bug) and of shallow fits below their floor (0); the recurrent
reproductions' deficit against Khrulkov et al.'s and Levine et al.'s bounds (0).  Timed: one
batch of Levine configurations through the runner's worker function (the throughput a
cluster worker gets); a training step of the 32x32 blob networks over the matmul of the
same multiply-adds.
"""

from __future__ import annotations

import time

import torch
from threadpoolctl import threadpool_limits

from ._common import cache_each, cached, declared_unit, quick, quick_profile, require


def _need():
    for mod in ("flint",):
        try:
            __import__(mod)
        except ImportError as exc:
            raise NotImplementedError(f"{mod} is not installed") from exc
    return require("convac.experiments.runner", "evaluate", "compute_batch")


class LevineMinCut:
    """A seeded sample of 200 configurations of the Levine et al. grid (counted once, in
    ``setup_cache``; 50 in the quick profile)."""

    unit = declared_unit("count")

    def setup_cache(self):
        return cache_each([()], self._counts)

    @staticmethod
    def _counts():
        _need()
        return require("convac.experiments.levine_mincut").quick_counts(quick(200, 50), 0)

    def setup(self, cache):
        self.counts = cached(cache, ())
        _, self.compute_batch = _need()
        lev = require("convac.experiments.levine_mincut")
        exp = lev.experiment()
        self.batch = [(exp.key(c), c) for c in (exp.config(i) for i in range(0, 6435, 322))]
        self.compute = exp.compute

    def track_levine_above_bound(self, cache):
        """Ranks above the min-cut bound in the sample: 0, anything else is a bug."""
        return self.counts["above"]

    def track_levine_not_tight(self, cache):
        """Configurations whose exact rank is below the bound (lower is better)."""
        return self.counts["below"] + self.counts["error"]

    def time_levine_batch(self, cache):
        """20 configurations of one width pattern, as a worker computes them."""
        self.compute_batch(self.compute, self.batch)


class DepthSweep:
    """COLT 2016 Thm 3 at N <= 16: certified rank vs ``min(r0, M)^(N / 2^d)``."""

    unit = declared_unit("rank deficit")

    def setup(self):
        _need()
        self.rows = require("convac.experiments.depth_sweep").quick_rows()

    def track_depth_sweep_deficit(self):
        """Sum of ``max(paper - certified rank, 0)``: 0, anything else contradicts Thm 3."""
        return sum(max(r["paper"] - r["rank"], 0) for r in self.rows)


class PoolingGeometry:
    """ICLR 2017 at the quick size (one seed, 200 steps on 600 images per task)."""

    unit = declared_unit("count")

    def setup(self):
        _need()
        rows = require("convac.experiments.pooling_geometry").quick_table()
        self.acc = {(r["task"], r["geometry"]): r["accuracy"] for r in rows}

    def track_pooling_geometry_wrong_winner(self):
        """Tasks where the paper's geometry (square: closedness, mirror: symmetry) does
        not have the higher accuracy: 0 reproduces the paper; lower is better."""
        wins = [self.acc[("closedness", "square")] > self.acc[("closedness", "mirror")],
                self.acc[("symmetry", "mirror")] > self.acc[("symmetry", "square")]]
        return sum(not w for w in wins)


class PoolingGeometryFull:
    """ICLR 2017 at 32x32, quick: the deep arithmetic circuit of width 8 trained 1,000
    steps on 2,000 blob images per geometry for closedness, and the tiny grid of every
    network kind (30 steps) through the experiment's worker function (the quick profile:
    100 steps on 400 images, the tiny grid 10 steps on 100)."""

    unit = declared_unit("count")

    def setup_cache(self):
        return cache_each([()], self._quick)

    @staticmethod
    def _quick():
        _need()
        pf = require("convac.experiments.pooling_full")
        evaluate = require("convac.experiments.runner", "evaluate")
        deep = evaluate(pf.experiment(seeds=1, steps=quick(1000, 100), deep_widths=(8,),
                                      shallow_widths=(), kinds=("cac",),
                                      n_train=quick(2000, 400), n_test=quick(1000, 200)))
        acc = {c["config"]["geometry"]: c["result"]["test_accuracy"] for c in deep
               if c["status"] == "ok" and c["config"]["task"] == "closedness"}
        tiny = pf.quick_records(steps=quick(30, 10), n_train=quick(300, 100), n_test=200)
        return {"closedness_wrong": int(acc.get("square", 0) <= acc.get("mirror", 1)),
                "failed": sum(r["status"] != "ok" for r in deep + tiny)}

    def setup(self, cache):
        self.counts = cached(cache, ())

    def track_pooling_full_closedness_wrong_winner(self, cache):
        """1 when square pooling does not beat mirror on closedness (the paper's Fig. 3
        result), else 0."""
        return self.counts["closedness_wrong"]

    def track_pooling_full_failed_cells(self, cache):
        """Cells of the quick grids that raised: 0, anything else is a bug."""
        return self.counts["failed"]


class PoolingFullStep:
    """One training step of the ICLR 2017 deep blob networks (32x32, batch 64, one
    thread) against the hardware: ``track_step_per_matmul`` is the CPU time per step of
    ``train`` (200 steps past the first on the 2,000 seeded blob images' closedness task,
    30 in the quick profile) over the CPU time of one float32 matmul of the pixel-by-pixel
    step's multiply-adds (``64 * 340`` rows of width ``r`` times an ``r x r`` weight, three
    times: the forward and the two products of its backward), best of 5, same process.
    Below 1: faster than the hardware could run the network pixel by pixel (the distinct
    subtrees); lower is better.  A per-step overhead that comes back shows at width 16, a
    slower kernel at width 128.
    """

    params = (["cac", "relu-avg", "relu-max"], [16, 128])
    param_names = ["kind", "width"]
    unit = declared_unit("time ratio")

    def setup(self, kind, width):
        self.pf = require("convac.experiments.pooling_full")
        data = require("convac.experiments.blobs", "load_blobs")(0, 2000, 1000)
        self.x, self.y = self.pf._split(data, "train", "closedness",
                                        self.pf.tree_order("square"), "cpu")
        rows = torch.randn(64 * 340, width)  # (64 images x 340 inner nodes, r)
        weight = torch.randn(width, width)

        def matmul():
            for _ in range(3):
                rows @ weight
        self.matmul = matmul

    def _train_cpu(self, kind, width, steps):
        net = self.pf.BlobNet(kind, width, (4,) * 5, seed=0)
        start = time.process_time()
        self.pf.train(net, self.x, self.y, steps, 0)
        return time.process_time() - start

    def track_step_per_matmul(self, kind, width):
        """CPU time per training step over that of the FLOP-equivalent matmul."""
        steps = quick(200, 30)
        with threadpool_limits(limits=1):
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            torch.set_flush_denormal(True)  # as compute() trains
            try:
                self._train_cpu(kind, width, 2)  # warm-up
                step = (self._train_cpu(kind, width, steps + 1)
                        - self._train_cpu(kind, width, 1)) / steps  # past the one-off work
                ref = float("inf")
                for _ in range(5):
                    start = time.process_time()
                    self.matmul()
                    ref = min(ref, time.process_time() - start)
            finally:
                torch.set_num_threads(threads)
                torch.set_flush_denormal(False)
        return step / ref


class RectifierDistributions:
    """ICML 2016 over seeds, quick: N = 4 and 8, 10 seeds per law, operator and sharing,
    exact ranks; one shallow fit per operator and sharing (the quick profile: 3 seeds,
    30 training steps)."""

    unit = declared_unit("count")

    def setup_cache(self):
        return cache_each([()], self._quick)

    @staticmethod
    def _quick():
        evaluate = _need()[0]
        laws = require("convac.experiments.rectifier_laws")
        records = (evaluate(laws.experiment(rank_seeds={4: 3, 8: 3}, fit_seeds=1,
                                            fit_widths=(1, 8), fit_steps=30))
                   if quick_profile() else laws.quick_records())
        ranks = [r for r in records if r["config"]["what"] == "rank" and r["status"] == "ok"]
        fits = [r for r in records if r["config"]["what"] == "fit" and r["status"] == "ok"]

        def below(op, law, shared, n):
            return sum(r["result"]["rank"] < r["result"]["max"] for r in ranks
                       if (r["config"]["operator"], r["config"]["law"], r["config"]["shared"],
                           r["config"]["N"]) == (op, law, shared, n))

        return {"relu_max_unshared": below("relu-max", "int/I", False, 8),
                "relu_max_shared": below("relu-max", "int/I", True, 8),
                "product": sum(r["result"]["rank"] < r["result"]["max"] for r in ranks
                               if r["config"]["operator"] == "product"),
                "under_floor": sum(min(r["result"]["errors"]) < r["result"]["floor"] - 1e-9
                                   for r in fits),
                "failed": sum(r["status"] != "ok" for r in records)}

    def setup(self, cache):
        self.counts = cached(cache, ())

    def track_rectifier_relu_max_below_max_unshared(self, cache):
        """Of 10 unshared ReLU+max networks at N = 8 (integer law, F = I), how many are
        below the maximal odd-even rank 16 (exact ranks: any change is a bug)."""
        return self.counts["relu_max_unshared"]

    def track_rectifier_relu_max_below_max_shared(self, cache):
        """The same with shared weights."""
        return self.counts["relu_max_shared"]

    def track_rectifier_product_below_max(self, cache):
        """ConvACs below the maximal rank over every law and sharing: 0 (COLT 2016)."""
        return self.counts["product"]

    def track_rectifier_fits_below_floor(self, cache):
        """Shallow fits below their reachable space's floor, plus failed configurations:
        0, anything else is a bug."""
        return self.counts["under_floor"] + self.counts["failed"]


class RecurrentRanks:
    """Khrulkov et al. (ICLR 2018) and Levine et al. at the quick size: N = 4 CP/TT/HT
    networks and RACs of depth 1-3 up to T = 6, certified ranks beside the theorems."""

    unit = declared_unit("rank deficit")

    def setup_cache(self):
        return cache_each([()], self._quick)

    @staticmethod
    def _quick():
        _need()
        rc = require("convac.experiments.recurrent")
        return {"deficit": rc.deficit(rc.quick_summary())}

    def setup(self, cache):
        self.counts = cached(cache, ())

    def track_recurrent_deficit(self, cache):
        """Shortfalls below Khrulkov's Thm 1 and Levine's Thm 1 (depth 2, in the form
        convac assumes), excesses over the upper bounds, failed configurations: 0
        reproduces both theorems (Table 2 is checked apart)."""
        return self.counts["deficit"]
