"""Matricization ranks and their bounds: the third stage of the data flow.

The rank-method registry, declared once (:mod:`.methods`: ``dense``, ``structured``,
``exact``, ``auto``); the structured fold of the HT tree (:mod:`.structured`); exact ranks
over prime fields (:mod:`.exact`, arithmetic mod p in :mod:`.modp`, the blocked
elimination in :mod:`.modlu`); min-cut upper bounds
(:mod:`.cuts`) and CP-rank bounds (:mod:`.bounds`); the theorems' closed forms
(:mod:`.theory`); ranks of generalized networks' grid tensors (:mod:`.grid`); ranks of
recurrent circuits and tensor trains (:mod:`.recurrent`); min-cut
bounds of any tensor network by exact max-flow (:mod:`.mincut`) and the ranks of tree
and mixed networks (Theorem 7, Corollary 8; :mod:`.mixed`).  Imports
from :mod:`convac.nets` and :mod:`convac.tensors`.
"""

from .bounds import CPRankBounds, cp_rank_bounds, expansion_terms, min_cut_bound
from .exact import exact_rank, integer_network, integer_weights_
from .grid import grid_rank, shallow_rank_per_unit, shallow_width_lower_bound
from .methods import RANK_METHODS, auto_rank, matricization_rank
from .mincut import graph_min_cut, mixed_min_cut_bound, tree_min_cut
from .mixed import mixed_rank, mixed_rank_lower_bound, mixed_width_needed, tree_rank_bounds
from .recurrent import ht_ranks, rac_coefficient_tensor, rac_exact_rank, tt_ranks
from .structured import BudgetError, structured_rank, structured_singular_values
from .theory import (
    cp_rank,
    cp_shared_odd_even_rank,
    ht_left_right_rank,
    ht_odd_even_rank,
    rac_deep_start_end_lower,
    rac_deep_start_end_upper,
    rac_shallow_start_end_bound,
    tt_odd_even_rank,
)

__all__ = [
    "RANK_METHODS", "matricization_rank", "auto_rank",
    "structured_rank", "structured_singular_values", "BudgetError",
    "exact_rank", "integer_network", "integer_weights_",
    "min_cut_bound", "expansion_terms", "CPRankBounds", "cp_rank_bounds",
    "ht_odd_even_rank", "ht_left_right_rank", "cp_rank", "cp_shared_odd_even_rank",
    "grid_rank", "shallow_rank_per_unit", "shallow_width_lower_bound",
    "rac_coefficient_tensor", "rac_exact_rank", "tt_ranks", "ht_ranks", "tt_odd_even_rank",
    "rac_shallow_start_end_bound", "rac_deep_start_end_lower", "rac_deep_start_end_upper",
    "graph_min_cut", "tree_min_cut", "mixed_min_cut_bound",
    "tree_rank_bounds", "mixed_rank", "mixed_rank_lower_bound", "mixed_width_needed",
]
