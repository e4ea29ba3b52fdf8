"""Parameter counts of ConvACs in closed form (ARCHITECTURE.md, "The mathematics in one page")."""

from __future__ import annotations

from .geometry import PoolingSchedule
from .network import ConvAC

__all__ = ["parameter_count", "schedule_parameter_count", "trainable_parameters"]


def schedule_parameter_count(schedule: PoolingSchedule, shared: bool = False) -> int:
    """Parameters of a ConvAC with this schedule, from the configuration alone.

    ``N*M*r_0 + sum_{l=1..L-1} nodes_l * r_{l-1} * r_l + r_{L-1} * Y`` unshared;
    shared weights drop the node counts (``M*r_0 + sum_l r_{l-1} * r_l + r_{L-1} * Y``).
    """
    s = schedule
    total = (1 if shared else s.n_patches) * s.n_channels * s.ranks[0]
    for level in range(1, s.n_levels):
        total += (1 if shared else s.nodes[level]) * s.ranks[level - 1] * s.ranks[level]
    return total + s.ranks[-1] * s.n_outputs


def parameter_count(net: ConvAC) -> int:
    """Closed-form parameter count of ``net`` (equals :func:`trainable_parameters`)."""
    if not isinstance(net, ConvAC):
        raise ValueError(f"expected a convac.ConvAC network, got {type(net).__name__}")
    return schedule_parameter_count(net.schedule, net.shared)


def trainable_parameters(module) -> int:
    """Number of trainable scalars of any ``nn.Module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
