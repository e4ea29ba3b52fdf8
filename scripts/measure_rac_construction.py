"""CPU and wall time of constructing default RACs (the scale probe included), for one
checkout: ``OMP_NUM_THREADS=1 python scripts/measure_rac_construction.py CHECKOUT``.

Prints, per ``(M, R, depth)``, the mean over seeds 0..4 of ``convac.RAC(M, R, depth,
seed=s)`` in ms, CPU (``time.process_time``) then wall, and the 1-minute load; run it
for two checkouts alternately to compare them (``docs/initialisation.md``).
"""
import json
import os
import sys
import time

root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
sys.path.insert(0, root)
import torch  # noqa: E402

torch.set_num_threads(1)
import convac  # noqa: E402

assert convac.__file__.startswith(root), convac.__file__
from convac.nets.recurrent import RAC  # noqa: E402

RAC(16, 16, 1, seed=0)  # first-call costs out of the figures
out = {}
for m, r, depth in [(16, 16, 1), (16, 16, 3), (2, 2, 2), (16, 256, 1)]:
    cpu, wall = time.process_time(), time.perf_counter()
    for seed in range(5):
        RAC(m, r, depth=depth, seed=seed)
    out[f"M={m} R={r} depth={depth}"] = (round((time.process_time() - cpu) / 5 * 1000, 1),
                                         round((time.perf_counter() - wall) / 5 * 1000, 1))
print(root, json.dumps(out), "load", round(os.getloadavg()[0], 2))
