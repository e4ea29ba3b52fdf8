"""convac: depth efficiency of convolutional arithmetic circuits, measured.

Shallow CP and deep Hierarchical-Tucker ConvACs as PyTorch modules; their coefficient
and grid tensors; matricization ranks (dense, structured, exact over a prime field),
min-cut upper bounds and CP-rank bounds; parameter counts; the CP-to-HT embedding;
CP fits of deep networks against the Eckart-Young floor.

The package is laid out by its data flow, one subpackage per stage (``nets`` -> ``tensors``
-> ``rank`` -> ``fit`` -> ``experiments`` -> ``bench`` -> ``cli``; see ARCHITECTURE.md).
It loads lazily (PEP 562): ``import convac`` imports neither torch nor any submodule, so
``convac --help`` answers at once.  The first access to an exported name
(``convac.HTNet``) imports every module below.  The rank methods (``dense``,
``structured``, ``exact``, ``auto``) are declared once, in :mod:`convac.rank.methods`.
To export a new name, add it to ``_EXPORTS`` under its module.
"""

import importlib as _importlib
import sys as _sys
import types as _types

__version__ = "0.1.0"

# module -> the names it exports (imported on first access to any of them)
_EXPORTS = {
    "nets.geometry": ("PoolingSchedule", "ht_windows", "mirror_order", "patch_order",
                      "quadtree_order", "truncated_windows"),
    "nets.network": ("ConvAC", "CPNet", "HTNet", "TTNet", "multiply_adds"),
    "nets.tree": ("PoolingTree", "caterpillar", "tree_from_parents"),
    "nets.representation": ("Gaussian", "Identity", "Linear", "OneHot", "Patches", "ReLU",
                            "Representation"),
    "nets.params": ("parameter_count", "schedule_parameter_count", "trainable_parameters"),
    "nets.embed": ("embed_cp_in_ht", "embed_cp_in_tree"),
    "nets.recurrent": ("RAC", "rac_parameter_count"),
    "nets.mixed": ("MixedConvAC", "dilated_order", "dilated_tree", "swapped_dilations"),
    "tensors.coefficient": ("coefficient_tensor", "coefficient_tensor_by_forward",
                            "grid_tensor"),
    "tensors.matricization": ("Partition", "RankResult", "matricize", "numerical_rank",
                              "resolve_partition", "singular_values"),
    "rank.structured": ("structured_rank", "structured_singular_values"),
    "rank.exact": ("exact_rank", "integer_network", "integer_weights_"),
    "rank.bounds": ("CPRankBounds", "cp_rank_bounds", "expansion_terms", "min_cut_bound"),
    "rank.mincut": ("graph_min_cut", "mixed_min_cut_bound", "tree_min_cut"),
    "rank.mixed": ("mixed_rank", "mixed_width_needed", "tree_rank_bounds"),
    # the rank-method registry (declared once) and the theorem formulas
    "rank.methods": ("RANK_METHODS", "auto_rank", "matricization_rank"),
    "rank.theory": ("ht_odd_even_rank", "ht_left_right_rank", "cp_rank",
                    "cp_shared_odd_even_rank", "tt_odd_even_rank",
                    "rac_shallow_start_end_bound", "rac_deep_start_end_lower",
                    "rac_deep_start_end_upper"),
    "rank.recurrent": ("rac_coefficient_tensor", "rac_exact_rank", "tt_ranks", "ht_ranks"),
    "fit.cp": ("CPFit", "fit_cp", "load_cp_factors"),
    "fit.floor": ("FloorResult", "eckart_young_floor", "eckart_young_floors"),
    "fit.train": ("TrainResult", "digits_features", "random_features", "train_student"),
    "fit.sweep": ("ConverseResult", "SweepResult", "ht_fits_cp", "width_sweep"),
    # the Haeffele-Vidal certificate
    "fit.certificate": ("Certificate", "certify", "fit_regularized", "grow_cp"),
    # the error family: every bad input is a ConvACError (also a ValueError or TypeError)
    "validate": ("ConvACError", "InvalidValueError", "InvalidTypeError", "BudgetError"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [
    # errors: every bad input raises a ConvACError
    "ConvACError", "InvalidValueError", "InvalidTypeError", "BudgetError",
    # networks and their inputs
    "ConvAC", "CPNet", "HTNet", "TTNet", "PoolingSchedule", "PoolingTree", "multiply_adds",
    "caterpillar", "tree_from_parents",
    "Patches", "Representation", "OneHot", "Identity", "Linear", "ReLU", "Gaussian",
    "patch_order", "mirror_order", "quadtree_order", "ht_windows", "truncated_windows",
    # tensors, matricizations, ranks and bounds
    "coefficient_tensor", "coefficient_tensor_by_forward", "grid_tensor",
    "Partition", "RankResult", "matricize", "matricization_rank", "numerical_rank",
    "resolve_partition", "singular_values",
    "structured_rank", "structured_singular_values",
    "exact_rank", "integer_weights_", "integer_network",
    "min_cut_bound", "cp_rank_bounds", "CPRankBounds", "expansion_terms",
    # recurrent arithmetic circuits and tensor trains
    "RAC", "rac_parameter_count", "rac_coefficient_tensor", "rac_exact_rank", "tt_ranks",
    "ht_ranks", "tt_odd_even_rank", "rac_shallow_start_end_bound",
    "rac_deep_start_end_lower", "rac_deep_start_end_upper",
    # mixed networks (two trees interconnected): ranks, bounds, min-cut of any network
    "MixedConvAC", "dilated_tree", "dilated_order", "swapped_dilations",
    "tree_rank_bounds", "mixed_rank", "mixed_width_needed",
    "graph_min_cut", "tree_min_cut", "mixed_min_cut_bound",
    # parameters and the CP -> HT embedding
    "parameter_count", "schedule_parameter_count", "trainable_parameters", "embed_cp_in_ht",
    "embed_cp_in_tree",
    # fit error
    "CPFit", "fit_cp", "load_cp_factors",
    "FloorResult", "eckart_young_floor", "eckart_young_floors",
    "TrainResult", "train_student", "random_features", "digits_features",
    "SweepResult", "ConverseResult", "width_sweep", "ht_fits_cp",
    # certified ranks
    "RANK_METHODS", "auto_rank",
    "ht_odd_even_rank", "ht_left_right_rank", "cp_rank", "cp_shared_odd_even_rank",
    # the Haeffele-Vidal certificate
    "Certificate", "certify", "fit_regularized", "grow_cp",
]


def _load_all() -> None:
    """Import every exporting submodule (registering the rank methods) and bind the
    exported names in this namespace."""
    for module, names in _EXPORTS.items():
        mod = _importlib.import_module(f".{module}", __name__)
        for name in names:
            globals()[name] = getattr(mod, name)


def __getattr__(name: str):
    if name in _WHERE:
        _load_all()
        return globals()[name]
    raise AttributeError(f"module 'convac' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))


class _Package(_types.ModuleType):
    """Keeps an exported name (``convac.matricize``, a function) from being bound to the
    submodule of the same name when that submodule is imported before the first access."""

    def __setattr__(self, name, value):
        if isinstance(value, _types.ModuleType) and name in _WHERE and name not in self.__dict__:
            return
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package
