"""Fits of shallow networks to deep ones: the fourth stage of the data flow.

CP decompositions of a coefficient tensor (:mod:`.cp`, solvers in :mod:`.solvers`), the
Eckart-Young floors they cannot beat (:mod:`.floor`), the Haeffele-Vidal certificate
(:mod:`.certificate`), students trained on a teacher's outputs (:mod:`.train`), width
sweeps (:mod:`.sweep`) and shallow generalized networks fitted to grid tensors
(:mod:`.shallow`).  Imports from :mod:`convac.nets`, :mod:`convac.tensors` and
:mod:`convac.rank`.
"""

from .certificate import Certificate, certify, fit_regularized, grow_cp
from .cp import CPFit, fit_cp, load_cp_factors
from .floor import FloorResult, eckart_young_floor, eckart_young_floors
from .shallow import ShallowFit, additive_floor, fit_shallow
from .sweep import ConverseResult, SweepResult, ht_fits_cp, width_sweep
from .train import TrainResult, digits_features, random_features, train_student

__all__ = [
    "CPFit", "fit_cp", "load_cp_factors",
    "FloorResult", "eckart_young_floor", "eckart_young_floors",
    "Certificate", "certify", "fit_regularized", "grow_cp",
    "TrainResult", "train_student", "random_features", "digits_features",
    "SweepResult", "ConverseResult", "width_sweep", "ht_fits_cp",
    "ShallowFit", "fit_shallow", "additive_floor",
]
