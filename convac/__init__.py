"""convac: depth efficiency of convolutional arithmetic circuits, measured.

Shallow CP and deep Hierarchical-Tucker ConvACs as PyTorch modules; their coefficient
and grid tensors; matricization ranks (dense, structured, exact over a prime field),
min-cut upper bounds and CP-rank bounds; parameter counts; the CP-to-HT embedding;
CP fits of deep networks against the Eckart-Young floor.

Importing the package registers the ``structured``, ``auto`` and ``exact`` rank methods
(:mod:`convac.rank`, :mod:`convac.exact`) next to ``dense``.
"""

from .bounds import CPRankBounds, cp_rank_bounds, expansion_terms, min_cut_bound
from .certificate import Certificate, certify, fit_regularized, grow_cp  # issue 15
from .embed import embed_cp_in_ht
from .exact import exact_rank, integer_network, integer_weights_
from .fit import CPFit, fit_cp, load_cp_factors
from .floor import FloorResult, eckart_young_floor, eckart_young_floors
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
from .rank import BudgetError, structured_rank, structured_singular_values
from .representation import (
    Gaussian,
    Identity,
    Linear,
    OneHot,
    Patches,
    ReLU,
    Representation,
)
from .sweep import ConverseResult, SweepResult, ht_fits_cp, width_sweep
from .tensors import coefficient_tensor, coefficient_tensor_by_forward, grid_tensor
from .train import TrainResult, digits_features, random_features, train_student

__version__ = "0.1.0"

__all__ = [
    # networks and their inputs
    "ConvAC", "CPNet", "HTNet", "PoolingSchedule",
    "Patches", "Representation", "OneHot", "Identity", "Linear", "ReLU", "Gaussian",
    "patch_order", "mirror_order", "quadtree_order", "ht_windows", "truncated_windows",
    # tensors, matricizations, ranks and bounds
    "coefficient_tensor", "coefficient_tensor_by_forward", "grid_tensor",
    "Partition", "RankResult", "matricize", "matricization_rank", "numerical_rank",
    "resolve_partition", "singular_values",
    "structured_rank", "structured_singular_values", "BudgetError",
    "exact_rank", "integer_weights_", "integer_network",
    "min_cut_bound", "cp_rank_bounds", "CPRankBounds", "expansion_terms",
    # parameters and the CP -> HT embedding
    "parameter_count", "schedule_parameter_count", "trainable_parameters", "embed_cp_in_ht",
    # fit error
    "CPFit", "fit_cp", "load_cp_factors",
    "FloorResult", "eckart_young_floor", "eckart_young_floors",
    "TrainResult", "train_student", "random_features", "digits_features",
    "SweepResult", "ConverseResult", "width_sweep", "ht_fits_cp",
]
__all__ += ["Certificate", "certify", "fit_regularized", "grow_cp"]  # issue 15
