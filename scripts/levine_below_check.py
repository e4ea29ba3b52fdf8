"""Are the Levine grid's "below the min-cut" cases structural or an artefact of the
weights?  For each width pattern given, every balanced partition's exact rank against the
min-cut bound with the run's weights and with an independent draw; prints whether the same
partitions fall below.

    python scripts/levine_below_check.py 3.5.5.2 7.7.7.2
"""
import itertools
import sys
import time

import torch

import convac
from convac.experiments import levine_mincut as lm


def below(widths: tuple, seed: int) -> set:
    net, _, cache = lm._network(widths, seed, lm.N_PATCHES, lm.N_CHANNELS, lm.WEIGHT_RANGE)
    return {rows for rows in lm.partitions(lm.N_PATCHES)
            if int(convac.exact_rank(net, rows, cache=cache))
            < convac.min_cut_bound(net, rows)}


if __name__ == "__main__":
    torch.set_num_threads(1)
    patterns = list(itertools.product(lm.PRIMES, repeat=4))
    for arg in sys.argv[1:]:
        widths = tuple(int(x) for x in arg.split("."))
        k = patterns.index(widths)
        start = time.process_time()
        run, other = below(widths, lm.WEIGHT_SEED + k), below(widths, 777_000 + k)
        print(f"{arg}: below with the run's weights {len(run)}, with another draw "
              f"{len(other)}, same partitions: {run == other} "
              f"({time.process_time() - start:.0f} CPU s)", flush=True)
