"""Gradient students (train_student defaults) of the report's teacher HT(8, 3, 2, seed 0)
against CP-ALS (fit_cp best) and the Eckart-Young floor, width by width.  The student's
error is exact: its coefficient tensor against the teacher's (for standard-normal
features the L2 error of the function is this Frobenius error).

``DEVICE=cuda PROCS=15 OUT=. python scripts/student_vs_als.py`` (the table of Adam students in
docs/students.md; ``WIDTHS``, ``SEEDS``, ``STEPS`` override the sweep).
"""
import json
import multiprocessing as mp
import os
import time

DEVICE = os.environ.get("DEVICE", "cuda")
STEPS = int(os.environ.get("STEPS", "1000"))

def student(args):
    k, seed = args
    import torch

    import convac
    torch.set_num_threads(1)
    t0, c0 = time.perf_counter(), time.process_time()
    teacher = convac.HTNet(8, 3, 2, seed=0, dtype=torch.float64)
    a = convac.coefficient_tensor(teacher)
    res = convac.train_student(convac.CPNet(8, 3, k, seed=seed), teacher, seed=seed,
                               steps=STEPS, device=DEVICE, progress=False)
    b = convac.coefficient_tensor(res.student)
    err = float(torch.linalg.norm(b - a) / torch.linalg.norm(a))
    return {"what": "student", "K": k, "seed": seed, "coef_error": err,
            "held_out": res.held_out_error, "steps_run": res.steps_run,
            "wall_s": round(time.perf_counter() - t0, 1),
            "cpu_s": round(time.process_time() - c0, 1)}

def als(k):
    import torch

    import convac
    torch.set_num_threads(1)
    t0, c0 = time.perf_counter(), time.process_time()
    teacher = convac.HTNet(8, 3, 2, seed=0, dtype=torch.float64)
    a = convac.coefficient_tensor(teacher).numpy()
    fit = convac.fit_cp(a, k, method="best")
    floor = convac.eckart_young_floor(a, k).value
    return {"what": "als", "K": k, "best": fit.relative_error, "solver": fit.method,
            "floor": floor, "wall_s": round(time.perf_counter() - t0, 1),
            "cpu_s": round(time.process_time() - c0, 1)}

if __name__ == "__main__":
    widths = [int(x) for x in os.environ.get("WIDTHS", "1,2,4,8,12,16").split(",")]
    seeds = range(int(os.environ.get("SEEDS", "3")))
    out = os.path.join(os.environ.get("OUT", "."), "student_vs_als.jsonl")
    ctx = mp.get_context("spawn")
    with ctx.Pool(int(os.environ.get("PROCS", "14"))) as pool, open(out, "w") as fh:
        futs = [pool.apply_async(als, (k,)) for k in widths]
        futs += [pool.apply_async(student, ((k, s),)) for k in widths for s in seeds]
        for f in futs:
            row = f.get()
            print(json.dumps(row), flush=True)
            fh.write(json.dumps(row) + "\n")
            fh.flush()
