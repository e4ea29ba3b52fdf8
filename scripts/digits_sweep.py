"""Digits: deep (HT) against shallow (CP) students at equal parameter counts, 3 seeds,
train_student defaults; one process per training (spawned).

The digits sweep (run on an H200 with 14 processes; CPU works too)::

    DEVICE=cuda PROCS=14 OUT=. python scripts/digits_sweep.py
    DEVICE=cpu PROCS=2 ONLY=8:8,16,16,16 python scripts/digits_sweep.py

writes ``digits_sweep.jsonl`` (one row per training) to ``$OUT``.
"""
import json
import multiprocessing as mp
import os
import sys
import time

STEPS = int(os.environ.get("STEPS", "3000"))
DEVICE = os.environ.get("DEVICE", "cuda")

def job(args):
    kind, m, spec, seed = args
    import torch

    import convac
    torch.set_num_threads(1)
    t0, c0 = time.perf_counter(), time.process_time()
    feats, labels = convac.digits_features(2, n_channels=m, seed=0)
    targets = torch.nn.functional.one_hot(labels, 10).double()
    if kind == "deep":
        net = convac.HTNet(16, m, list(spec), n_outputs=10, seed=seed)
    else:
        net = convac.CPNet(16, m, spec, n_outputs=10, seed=seed)
    res = convac.train_student(net, features=feats, targets=targets, seed=seed,
                               steps=STEPS, device=DEVICE, progress=False)
    return {"kind": kind, "M": m, "spec": spec, "seed": seed,
            "params": convac.parameter_count(net), "held_out": res.held_out_error,
            "train": res.train_error, "val": res.validation_error,
            "steps_run": res.steps_run, "restart": res.restart,
            "wall_s": round(time.perf_counter() - t0, 1),
            "cpu_s": round(time.process_time() - c0, 1)}

def width_for(params, m):
    # CP params: N*K*M + 10*K  (leaf convs + output layer)
    return max(1, round(params / (16 * m + 10)))

if __name__ == "__main__":
    import convac
    deep_specs = {4: [(4, 16, 16, 16), (4, 32, 32, 32), (4, 64, 64, 32)],
                  8: [(8, 16, 16, 16), (8, 32, 32, 32), (8, 64, 64, 32)]}
    jobs = []
    for m, specs in deep_specs.items():
        for spec in specs:
            p = convac.parameter_count(convac.HTNet(16, m, list(spec), n_outputs=10))
            k = width_for(p, m)
            for seed in range(3):
                jobs += [("deep", m, spec, seed), ("shallow", m, k, seed)]
    if os.environ.get("ONLY"):  # e.g. ONLY=8:8,16,16,16
        m_only, spec_only = os.environ["ONLY"].split(":")
        spec_only = tuple(int(x) for x in spec_only.split(","))
        p = convac.parameter_count(convac.HTNet(16, int(m_only), list(spec_only), n_outputs=10))
        jobs = [j for j in jobs if j[1] == int(m_only)
                and (j[2] == spec_only or j[2] == width_for(p, int(m_only)))]
    if len(sys.argv) > 1:
        jobs = jobs[: int(sys.argv[1])]
    out = os.path.join(os.environ.get("OUT", "."), "digits_sweep.jsonl")
    ctx = mp.get_context("spawn")
    with ctx.Pool(int(os.environ.get("PROCS", "12"))) as pool, open(out, "w") as fh:
        for row in pool.imap_unordered(job, jobs):
            print(json.dumps(row), flush=True)
            fh.write(json.dumps(row) + "\n")
            fh.flush()
