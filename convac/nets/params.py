"""Parameter counts of ConvACs in closed form (ARCHITECTURE.md, "The mathematics in one page")."""

from __future__ import annotations

from torch import nn

from .. import validate
from .geometry import PoolingSchedule
from .tree import PoolingTree

__all__ = ["parameter_count", "schedule_parameter_count", "trainable_parameters"]


def schedule_parameter_count(schedule: PoolingSchedule | PoolingTree,
                             shared: bool = False) -> int:
    """Parameters of a ConvAC with this schedule or tree, from the configuration alone.

    ``N*M*r_0 + sum_{l=1..L-1} nodes_l * r_{l-1} * r_l + r_{L-1} * Y`` unshared;
    shared weights drop the node counts (``M*r_0 + sum_l r_{l-1} * r_l + r_{L-1} * Y``).
    A :class:`PoolingTree`: ``sum over nodes of rank_in * rank_out`` (``M`` into every
    leaf, each node's rank into its children's convs, ``Y`` out of the root).
    """
    if not isinstance(schedule, (PoolingSchedule, PoolingTree)):
        raise validate.InvalidTypeError(
            f"schedule must be a convac.PoolingSchedule or a PoolingTree, got "
            f"{type(schedule).__name__}")
    return schedule.parameter_count(shared)


def parameter_count(net) -> int:
    """Closed-form parameter count of ``net`` (equals :func:`trainable_parameters`)."""
    net = validate.network(net)
    return schedule_parameter_count(net.schedule, net.shared)


def trainable_parameters(module) -> int:
    """Number of trainable scalars of any ``nn.Module``."""
    if not isinstance(module, nn.Module):
        raise validate.InvalidTypeError(
            f"module must be a torch.nn.Module, got {type(module).__name__}")
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
