"""Same-process A/B of rewrites of the eager no-grad CPU forward that were measured and
not adopted, beside the network itself and the bmm reference of
``bench_network.ForwardPath``.

HT, batch 1024, N = 64, M = r = 16, float32, one thread.  Every variant is a plain
function of the network's own weights with the forward's passes (``_batch_chunk``
samples, the upper levels from ``_whole_batch_level`` over the whole batch) unless it
changes them, checked against the network's outputs first:

- ``plain``: the forward's torch calls without the module around them (call, state
  checks, pooling and level wrappers);
- ``plain-inference``: the same in ``torch.inference_mode`` (no version counters or
  autograd dispatch), its outputs copied out of the mode as the forward would have to;
- ``leaves-in-halves``: each pass's level 0 as two products of 128 samples, pooled into one
  buffer (the level-0 outputs of a pass take half the cache);
- ``leaves-even-odd``: each pass's level 0 as two products, the even and the odd nodes,
  the odd ones multiplied into the even ones;
- ``passes-of-128``: passes of 128 samples, the whole batch from level 5.

Each round prints every variant's throughput against the bmm (bmm time over path time,
best of 20 each; higher is better) and the round's CPU and wall time.

Usage (from the repository root)::

    python scripts/ab_eager_variants.py [ROUNDS]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402
from ab_rounds import check_outputs, print_rounds  # noqa: E402

from benchmarks._common import cpu_description  # noqa: E402  (one thread for every pool)
from benchmarks.bench_network import _bmm_baseline, make_net, normal_features  # noqa: E402
from convac.nets.network import transposed_conv  # noqa: E402


def levels(h, weights_t, start, stop):
    """Levels ``start .. stop`` of a binary tree from level ``start - 1``'s convs ``h``."""
    for lvl in range(start, stop + 1):
        pairs = h.view(h.shape[0] // 2, 2, *h.shape[1:])
        pooled = pairs[:, 0].mul_(pairs[:, 1])
        h = transposed_conv(pooled, weights_t[lvl])
    return h


def plain(net, x, chunk=None, top=None, leaves=None):
    """The forward's calls: passes of ``chunk`` samples up to level ``top - 1``, then the
    whole batch; ``leaves(part, weights_t)`` gives a pass's level-1 inputs if set."""
    chunk = chunk or net._batch_chunk(x)
    top = top or net._whole_batch_level(x)
    weights_t = [w.transpose(-1, -2) for w in net.weight_levels()]
    parts = []
    for part in x.split(chunk):
        if leaves is None:
            h = levels(torch.bmm(part.transpose(0, 1), weights_t[0]), weights_t, 1, top - 1)
        else:
            h = levels(torch.bmm(leaves(part, weights_t), weights_t[1]), weights_t, 2, top - 1)
        parts.append(h)
    return levels(torch.cat(parts, 1), weights_t, top, net.schedule.n_levels)[0]


def plain_inference(net, x):
    with torch.inference_mode():
        out = plain(net, x)
    return out.clone()  # an ordinary tensor, as a forward must return


def leaves_in_halves(part, weights_t):
    """Level 1's inputs of a pass, level 0 over two halves of its samples."""
    n, b = part.shape[1], part.shape[0]
    pooled = torch.empty(n // 2, b, weights_t[0].shape[-1])
    for j, half in enumerate(part.split(b // 2)):
        conv = torch.bmm(half.transpose(0, 1), weights_t[0]).view(n // 2, 2, -1,
                                                                   pooled.shape[-1])
        torch.mul(conv[:, 0], conv[:, 1], out=pooled[:, j * (b // 2):(j + 1) * (b // 2)])
    return pooled


def leaves_even_odd(part, weights_t):
    """Level 1's inputs of a pass, the even and the odd leaves as two products."""
    xt = part.transpose(0, 1)
    even = torch.bmm(xt[0::2], weights_t[0][0::2])
    return even.mul_(torch.bmm(xt[1::2], weights_t[0][1::2]))


def main(rounds: int) -> None:
    net = make_net("ht", 64)
    x = normal_features(1024, 64)
    print(cpu_description(), f"load {os.getloadavg()[0]:.2f}", flush=True)
    paths = {"network": lambda: net(x), "plain": lambda: plain(net, x),
             "plain-inference": lambda: plain_inference(net, x),
             "leaves-in-halves": lambda: plain(net, x, leaves=leaves_in_halves),
             "leaves-even-odd": lambda: plain(net, x, leaves=leaves_even_odd),
             "passes-of-128": lambda: plain(net, x, chunk=128, top=5)}
    with torch.no_grad():
        check_outputs({name: path() for name, path in paths.items()}, net(x))
        print_rounds(paths, _bmm_baseline(net, 1024), rounds)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
