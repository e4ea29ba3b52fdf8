"""Tensors of a network: the second stage of the data flow.

Coefficient tensors of product-pooling ConvACs (:mod:`.coefficient`), grid tensors of
generalized ConvACs with any pooling operator (:mod:`.grid`), and partitions,
matricizations and the numerical rank of a spectrum (:mod:`.matricization`), coefficient
tensors of mixed networks (:mod:`.mixed`).  Imports
from :mod:`convac.nets`.

``grid_tensor`` here is the coefficient tensor's grid evaluation
(:func:`.coefficient.grid_tensor`); the generalized networks' grid tensor is
:func:`.grid.grid_tensor`.
"""

from .coefficient import coefficient_tensor, coefficient_tensor_by_forward, grid_tensor
from .grid import GridTensor, identity_templates, neuron_templates
from .matricization import (
    PARTITIONS,
    Partition,
    RankResult,
    dense_rank,
    matricize,
    numerical_rank,
    resolve_partition,
    sample_partitions,
    singular_values,
)
from .mixed import mixed_coefficient_tensor, mixed_coefficient_tensor_by_forward

__all__ = [
    "coefficient_tensor", "coefficient_tensor_by_forward", "grid_tensor",
    "GridTensor", "identity_templates", "neuron_templates",
    "Partition", "PARTITIONS", "RankResult", "matricize", "numerical_rank",
    "resolve_partition", "sample_partitions", "singular_values", "dense_rank",
    "mixed_coefficient_tensor", "mixed_coefficient_tensor_by_forward",
]
