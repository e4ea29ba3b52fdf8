"""Networks: the first stage of the data flow.

Pooling geometry and schedules (:mod:`.geometry`), the pooling tree (:mod:`.tree`),
pooling operators (:mod:`.pooling`), the CP and HT ConvACs (:mod:`.network`), their input
representations (:mod:`.representation`), parameter counts (:mod:`.params`), the
CP-to-HT embedding (:mod:`.embed`) and recurrent arithmetic circuits
(:mod:`.recurrent`).  Imports only :mod:`convac.validate`.
"""

from .embed import embed_cp_in_ht, embed_cp_in_tree
from .geometry import (
    GEOMETRIES,
    PoolingSchedule,
    ht_windows,
    mirror_order,
    patch_order,
    quadtree_order,
    truncated_windows,
)
from .mixed import (
    MixedConvAC,
    common_nodes,
    dilated_order,
    dilated_tree,
    hybrid_tree,
    hybrid_trees,
    swapped_dilations,
)
from .network import ConvAC, CPNet, HTNet, TTNet, multiply_adds
from .params import parameter_count, schedule_parameter_count, trainable_parameters
from .pooling import POOLING_OPERATORS, PoolingOperator, resolve_pooling
from .recurrent import RAC, rac_forward, rac_parameter_count
from .representation import (
    REPRESENTATIONS,
    Gaussian,
    Identity,
    Linear,
    OneHot,
    Patches,
    ReLU,
    Representation,
)
from .tree import (
    PoolingTree,
    TreeNode,
    build_tree,
    caterpillar,
    fold,
    fold_levels,
    traverse,
    tree_from_parents,
)

__all__ = [
    "ConvAC", "CPNet", "HTNet", "TTNet", "multiply_adds",
    "PoolingSchedule", "GEOMETRIES", "patch_order", "mirror_order", "quadtree_order",
    "truncated_windows", "ht_windows",
    "PoolingOperator", "POOLING_OPERATORS", "resolve_pooling",
    "TreeNode", "traverse", "fold", "fold_levels", "PoolingTree", "build_tree",
    "caterpillar", "tree_from_parents",
    "Patches", "Representation", "REPRESENTATIONS", "OneHot", "Identity", "Linear", "ReLU",
    "Gaussian",
    "parameter_count", "schedule_parameter_count", "trainable_parameters",
    "embed_cp_in_ht", "embed_cp_in_tree",
    "RAC", "rac_forward", "rac_parameter_count",
    "MixedConvAC", "common_nodes", "dilated_tree", "dilated_order", "swapped_dilations",
    "hybrid_trees", "hybrid_tree",
]
