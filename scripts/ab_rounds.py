"""Rounds of a same-process A/B against the bmm reference, and the check that the paths
compute the same outputs, shared by the A/B scripts of the forward
(``ab_compiled_forward.py``, ``ab_eager_forward.py``, ``ab_eager_variants.py``)."""
import os
import time

import torch

from benchmarks.bench_network import _best_seconds


def check_outputs(outputs: dict, ref) -> None:
    """Assert that every output equals ``ref`` up to float32 rounding (the largest
    difference below 1e-4 of ``ref``'s largest entry: the same sums, maybe in another
    order) and print whether it is bit-identical.

    Parameters
    ----------
    outputs : dict
        Name to a tensor of ``ref``'s shape.
    ref : Tensor
    """
    for name, out in outputs.items():
        worst = float((out - ref).abs().max() / ref.abs().max())
        assert worst < 1e-4, f"{name}: {worst:.3g}"
        print(f"{name}: {'bit-identical' if torch.equal(out, ref) else worst}")


def print_rounds(paths: dict, bmm, rounds: int) -> None:
    """Print, per round, the bmm reference's best time and each path's throughput against
    it (bmm time over the path's time, best of 20 each; higher is better), with the
    round's CPU and wall time and the load.

    Parameters
    ----------
    paths : dict
        Name to a callable of no argument (one forward).
    bmm : callable
        The reference (``bench_network._bmm_baseline``).
    rounds : int
    """
    for rnd in range(rounds):
        cpu, wall = time.process_time(), time.perf_counter()
        base = _best_seconds(bmm, 20)
        res = {name: base / _best_seconds(path, 20) for name, path in paths.items()}
        print(f"round {rnd}: bmm {base * 1e3:.3f} ms "
              + " ".join(f"{k} {v:.2f}" for k, v in res.items())
              + f"  (CPU {time.process_time() - cpu:.2f} s, wall "
              f"{time.perf_counter() - wall:.2f} s, load {os.getloadavg()[0]:.2f})",
              flush=True)
