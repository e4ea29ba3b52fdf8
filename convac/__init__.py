"""convac: depth efficiency of convolutional arithmetic circuits, measured.

Shallow CP and deep Hierarchical-Tucker ConvACs as PyTorch modules, their coefficient
and grid tensors, matricization ranks, parameter counts and the CP-to-HT embedding.
"""

from .embed import embed_cp_in_ht
from .geometry import (
    PoolingSchedule,
    ht_windows,
    mirror_order,
    patch_order,
    quadtree_order,
    truncated_windows,
)
from .matricize import (
    Partition,
    RankResult,
    matricization_rank,
    matricize,
    numerical_rank,
    resolve_partition,
    singular_values,
)
from .network import ConvAC, CPNet, HTNet
from .params import parameter_count, schedule_parameter_count, trainable_parameters
from .representation import (
    Gaussian,
    Identity,
    Linear,
    OneHot,
    Patches,
    ReLU,
    Representation,
)
from .tensors import coefficient_tensor, coefficient_tensor_by_forward, grid_tensor

__version__ = "0.1.0"

__all__ = [
    "ConvAC",
    "CPNet",
    "HTNet",
    "PoolingSchedule",
    "Partition",
    "RankResult",
    "Patches",
    "Representation",
    "OneHot",
    "Identity",
    "Linear",
    "ReLU",
    "Gaussian",
    "coefficient_tensor",
    "coefficient_tensor_by_forward",
    "grid_tensor",
    "matricize",
    "matricization_rank",
    "numerical_rank",
    "resolve_partition",
    "singular_values",
    "parameter_count",
    "schedule_parameter_count",
    "trainable_parameters",
    "embed_cp_in_ht",
    "patch_order",
    "mirror_order",
    "quadtree_order",
    "ht_windows",
    "truncated_windows",
]

# fit error: CP-ALS, Eckart-Young floor, gradient training, width sweeps
from .fit import CPFit, fit_cp, load_cp_factors  # noqa: E402
from .floor import FloorResult, eckart_young_floor, eckart_young_floors  # noqa: E402
from .sweep import ConverseResult, SweepResult, ht_fits_cp, width_sweep  # noqa: E402
from .train import TrainResult, digits_features, random_features, train_student  # noqa: E402

__all__ += [
    "CPFit", "fit_cp", "load_cp_factors",
    "FloorResult", "eckart_young_floor", "eckart_young_floors",
    "TrainResult", "train_student", "random_features", "digits_features",
    "SweepResult", "ConverseResult", "width_sweep", "ht_fits_cp",
]

# rank at scale (issue 3): structured and exact ranks register in RANK_METHODS on import
from .bounds import CPRankBounds, cp_rank_bounds, expansion_terms, min_cut_bound  # noqa: E402
from .exact import exact_rank, integer_network, integer_weights_  # noqa: E402
from .rank import BudgetError, structured_rank, structured_singular_values  # noqa: E402

__all__ += [
    "structured_singular_values",
    "structured_rank",
    "exact_rank",
    "integer_weights_",
    "integer_network",
    "min_cut_bound",
    "cp_rank_bounds",
    "CPRankBounds",
    "expansion_terms",
    "BudgetError",
]
