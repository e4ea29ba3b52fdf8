"""Parameter counts (``convac.nets.params``): what depth saves.

Every number here is exact and fixed by the closed forms of ARCHITECTURE.md: **any change is a
bug** (``convac gate`` compares them exactly).
"""

from __future__ import annotations

import torch

from convac import PoolingSchedule, parameter_count, schedule_parameter_count

from ._common import cp_net, declared_unit, ht_net, require, skip_if

# (N, M, r): patches, channels, HT ranks; N a power of two.
SIZES_N = [4, 8, 16, 32, 64]
SIZES_M = [2, 3]
SIZES_R = [2, 4]


def theorem_width(n_patches: int, n_channels: int, rank: int) -> int:
    """``min(r_0, M)^(N/2)``: the odd-even rank of a generic HT (COLT 2016, Thm 1), a lower
    bound on the width of any CP network with the same function."""
    return require("convac.theory", "ht_odd_even_rank")(n_patches, n_channels, rank)


class HTParameters:
    """Parameters of an unshared HT network, ``N*M*r + sum_l (N/2^l) r^2 + r``.

    Any change is a bug (exact).
    """

    params = (SIZES_N, SIZES_M, SIZES_R)
    param_names = ["N", "M", "r"]
    unit = declared_unit("parameters")

    def setup(self, n, m, r):
        skip_if(n > 16 and m * r > 8, "one large configuration per N is enough")
        self.net = ht_net(n, m, r, 0, torch.float32)

    def track_ht_params(self, n, m, r):
        """Trainable scalars of the HT network (the closed form, checked against the
        module's count). Any change is a bug."""
        count = parameter_count(self.net)
        module = sum(p.numel() for p in self.net.parameters())
        if count != module:
            raise RuntimeError(f"parameter_count {count} != module count {module}")
        return count


class CPParametersNeeded:
    """The CP width, and its parameters, that the HT's odd-even rank bound demands.

    A shallow network equal to the HT needs width ``>= min(r, M)^(N/2)`` (its rank lower
    bound); its parameters are ``N*M*K + K``. Both are exact: any change is a bug.
    """

    params = (SIZES_N, SIZES_M, SIZES_R)
    param_names = ["N", "M", "r"]
    unit = declared_unit("parameters")

    def setup(self, n, m, r):
        skip_if(n > 16 and m * r > 8, "one large configuration per N is enough")
        self.width = theorem_width(n, m, r)

    def track_cp_params_needed(self, n, m, r):
        """``N*M*K + K`` for ``K = min(r, M)^(N/2)``. Any change is a bug."""
        schedule = PoolingSchedule(n, m, (n,), (self.width,), 1)
        return schedule_parameter_count(schedule)

    def track_cp_width_needed(self, n, m, r):
        """``K = min(r, M)^(N/2)``, the CP width the bound demands. Any change is a bug."""
        return self.width

    track_cp_width_needed.unit = declared_unit("width")


class EmbeddingParameters:
    """Parameters of a width-``K`` CP embedded in an HT with every rank ``K`` (COLT 2016,
    footnote 4): ``N*M*K + (N-2)*K^2 + K``. Exact: any change is a bug."""

    params = ([4, 8, 16], [2, 4, 8])
    param_names = ["N", "K"]
    unit = declared_unit("parameters")

    def setup(self, n, k):
        from convac import embed_cp_in_ht

        self.ht = embed_cp_in_ht(cp_net(n, 3, k, 0, torch.float32))

    def track_embedded_ht_params(self, n, k):
        """Parameters of the embedding HT. Any change is a bug."""
        return parameter_count(self.ht)
