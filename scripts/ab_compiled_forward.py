"""Same-process A/B of the compiled CPU forward: the fused loops per level against the
previous compiled formulation (chunks of ``CHUNK_BYTES``, one extern bmm per level and a
pooling kernel), the fused loops with one sample per step against the landed
``sample_groups``, and the fused loops compiled with inductor's default
``-ffp-contract=off`` against the ``fast`` that ``convac.threads.apply`` sets (fused
multiply-adds), beside eager and the bmm reference of ``bench_network.ForwardPath``.

HT, batch 1024, N = 64, M = r = 16, float32, one thread.  Each round prints every path's
throughput against the bmm (bmm time over path time, best of 20 each; higher is better)
and the round's CPU and wall time.  The previous formulation is rebuilt here from the
forward's own pieces (``_leaf_convs``, ``node_conv``, the pooling, ``fold_levels``) on a
copy of the network.

Usage (from the repository root)::

    python scripts/ab_compiled_forward.py [ROUNDS]
"""
import copy
import os
import sys
import types

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402
from ab_rounds import check_outputs, print_rounds  # noqa: E402

from benchmarks._common import cpu_description  # noqa: E402  (one thread for every pool)
from benchmarks.bench_network import _bmm_baseline, make_net, normal_features  # noqa: E402
from convac.nets.network import ConvAC, node_conv  # noqa: E402
from convac.nets.tree import fold_levels  # noqa: E402


def previous_compiled_forward(self, x, weights, order, identity):
    """The compiled forward before the fused loops: chunks, a bmm per level."""
    def level(lvl, w, conv):
        n, b, r = conv.shape
        return node_conv(self.pooling(conv.view(n // w, w, b, r), False), weights[lvl])
    return torch.cat([fold_levels(self.schedule, self._leaf_convs(p, weights, order, identity),
                                  level)[0] for p in x.split(self._batch_chunk(x))])


def one_sample_per_step(self, x, weights, order, identity):
    """The fused loops computing one sample per step."""
    return ConvAC._fused_forward(self, x, weights, order, identity, groups=1)


def main(rounds: int) -> None:
    net = make_net("ht", 64)
    x = normal_features(1024, 64)
    old = copy.deepcopy(net)
    old._fused_forward = types.MethodType(previous_compiled_forward, old)
    single = copy.deepcopy(net)
    single._fused_forward = types.MethodType(one_sample_per_step, single)
    paths = {"eager": net, "compiled-previous": torch.compile(old, fullgraph=True),
             "compiled-fused-one-sample": torch.compile(single, fullgraph=True),
             "compiled-fused-contract-off": torch.compile(
                 copy.deepcopy(net), fullgraph=True,
                 options={"cpp.enable_floating_point_contract_flag": "off"}),
             "compiled-fused": torch.compile(net, fullgraph=True)}
    print(cpu_description(), f"load {os.getloadavg()[0]:.2f}")
    with torch.no_grad():
        check_outputs({name: model(x) for name, model in paths.items()}, net(x))
        print_rounds({k: (lambda m=m: m(x)) for k, m in paths.items()},
                     _bmm_baseline(net, 1024), rounds)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
