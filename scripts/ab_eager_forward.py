"""Same-process A/B of the eager no-grad CPU forward: the upper levels over the whole
batch (``WHOLE_BATCH_BYTES``) against every level chunk by chunk, beside the bmm reference
of ``bench_network.ForwardPath``.

HT, batch 1024, N = 64, M = r = 16, float32, one thread.  Each round prints each
variant's throughput against the bmm (bmm time over path time, best of 20 each; higher is
better) and the round's CPU and wall time.  The variants set
``convac.nets.network.WHOLE_BATCH_BYTES``: ``0`` (every level chunked: the forward
before), ``CHUNK_BYTES // 2`` (the default) and ``CHUNK_BYTES``.

Usage (from the repository root)::

    python scripts/ab_eager_forward.py [ROUNDS]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402
from ab_rounds import check_outputs, print_rounds  # noqa: E402

from benchmarks._common import cpu_description  # noqa: E402  (one thread for every pool)
from benchmarks.bench_network import _bmm_baseline, make_net, normal_features  # noqa: E402
from convac.nets import network  # noqa: E402

VARIANTS = {"all-chunked": 0, "whole-from-half-chunk": network.CHUNK_BYTES // 2,
            "whole-from-chunk": network.CHUNK_BYTES}


def main(rounds: int) -> None:
    net = make_net("ht", 64)
    x = normal_features(1024, 64)
    print(cpu_description(), f"load {os.getloadavg()[0]:.2f}", flush=True)
    with torch.no_grad():
        outs = {}
        for name, size in VARIANTS.items():
            network.WHOLE_BATCH_BYTES = size
            outs[name] = net(x)
        check_outputs(outs, outs["all-chunked"])  # bit-identical where the kernels agree
        def variant(size):
            def run():
                network.WHOLE_BATCH_BYTES = size
                net(x)
            return run

        print_rounds({name: variant(size) for name, size in VARIANTS.items()},
                     _bmm_baseline(net, 1024), rounds)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
