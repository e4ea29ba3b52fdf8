"""Before/after CPU ms per training step of the ICLR 2017 deep blob networks, in one
process (docs/blob-training.md).  The "before" module is pooling_full.py at the commit
before the distinct-subtree training, read from git.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python docs/measure_blob_training.py out.json
"""
import json
import os
import re
import subprocess
import sys
import time
import types

import numpy as np
import torch

from convac.experiments import pooling_full as pf
from convac.experiments.blobs import load_blobs

BEFORE = "1efa08f"  # the last commit that trained pixel by pixel


def _before():
    src = subprocess.run(["git", "show", f"{BEFORE}:convac/experiments/pooling_full.py"],
                         capture_output=True, text=True, check=True).stdout
    src = re.sub(r"from \.\.([\w.]+) import", r"from convac.\1 import", src)
    src = re.sub(r"from \.(\w+) import", r"from convac.experiments.\1 import", src)
    mod = types.ModuleType("pooling_full_before")
    exec(compile(src, "pooling_full_before.py", "exec"), mod.__dict__)
    return mod


torch.set_num_threads(1)
torch.set_flush_denormal(True)
old = _before()
x, y = pf._split(load_blobs(0), "train", "closedness", pf.tree_order("square"), "cpu")
STEPS = {"old": 100, "new": 500}


def timed(mod, kind, r, steps):
    net = mod.BlobNet(kind, r, (4,) * 5, seed=0)
    t, c = time.perf_counter(), time.process_time()
    mod.train(net, x, y, steps, 0)
    return time.perf_counter() - t, time.process_time() - c


def run(mod, kind, r, steps):
    """ms per step (wall, CPU) past the one-off work (train(steps) - train(1)), and the
    one-off work with the first step (CPU s)."""
    timed(mod, kind, r, 3)  # warm-up
    w1, c1 = timed(mod, kind, r, 1)
    w, c = timed(mod, kind, r, steps)
    return 1e3 * (w - w1) / (steps - 1), 1e3 * (c - c1) / (steps - 1), c1


gen = torch.Generator().manual_seed(7919)
order = torch.randperm(len(y), generator=gen)
nodes = np.mean([[len(c) for c in pf.distinct_subtrees(x[order[64 * i:64 * i + 64]],
                                                       (4,) * 5)[0]] for i in range(100)], 0)
out = {"uptime_start": os.popen("uptime").read().strip(),
       "distinct_nodes_per_level": nodes.tolist(), "rows": []}
for rep in range(3):
    for r in (8, 16, 32, 64, 128):
        for kind in pf.KINDS:
            row = {"rep": rep, "kind": kind, "width": r}
            for name, mod in (("old", old), ("new", pf)):
                row[name + "_wall_ms"], row[name + "_cpu_ms"], row[name + "_first_cpu_s"] = \
                    run(mod, kind, r, STEPS[name])
            # multiply-adds x 2 flop x 3 (forward, two products per conv backward)
            row["old_gflop"] = 6 * 64 * (340 * r * r + 2 * r) / 1e9
            row["new_gflop"] = 6 * (sum(nodes[:-1]) * r * r + nodes[-1] * 2 * r) / 1e9
            out["rows"].append(row)
            print(json.dumps(row), flush=True)
out["uptime_end"] = os.popen("uptime").read().strip()
with open(sys.argv[1], "w") as fh:
    json.dump(out, fh, indent=1)
