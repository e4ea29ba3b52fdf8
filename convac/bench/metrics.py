"""The metrics contract: every tracked quantity's unit and judging rule, declared once.

asv 0.6.6 counts every number as lower-is-better (``track_*`` included), so each unit
here is either lower-is-better or a number for which any change is a bug.  The asv
benchmarks take their ``unit`` from :data:`UNITS` (through :func:`unit`), the gate takes
its rule from it (an undeclared unit is an error, never a default tolerance), and the
report finds the benchmarks behind its curves in :data:`REPORT_SERIES`.  A test checks
that every unit the suite uses is declared here and every series names a benchmark the
suite has (``tests/test_metrics_contract.py``), so nothing is renamed silently.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..validate import InvalidValueError

__all__ = ["RULES", "Unit", "UNITS", "unit", "rule_of", "REPORT_SERIES", "series"]

RULES = ("exact", "lower", "two-sided", "timing")
"""``exact``: any change is a regression.  ``lower``: a rise beyond the relative
tolerance is a regression, a fall an improvement.  ``two-sided``: any change beyond the
relative tolerance is a regression.  ``timing``: a rise beyond the time factor is a
regression, judged only when a factor is given (shared machines are noisy)."""


@dataclass(frozen=True)
class Unit:
    """A declared unit of tracked numbers.

    Attributes
    ----------
    name : str
        The asv ``unit`` string.
    rule : str
        One of :data:`RULES`.
    meaning : str
        What the number is and why lower is better (or why any change is a bug).
    """

    name: str
    rule: str
    meaning: str

    def __post_init__(self):
        if self.rule not in RULES:
            raise InvalidValueError(f"unit {self.name!r}: rule {self.rule!r} is not one of "
                                    f"{RULES}")


UNITS: dict[str, Unit] = {u.name: u for u in (
    Unit("rank", "exact", "a matricization rank (certified or with its tolerance): any "
                          "change is a bug"),
    Unit("rank deficit", "exact", "theorem minus measured rank (0 expected): any change is "
                                  "a bug"),
    Unit("parameters", "exact", "a parameter count from closed forms: any change is a bug"),
    Unit("width", "exact", "a network width from a bound: any change is a bug"),
    Unit("count", "exact", "a count of cases (e.g. ranks above their bound, 0 expected): "
                           "any change is a bug"),
    Unit("relative error", "lower", "a fit's relative Frobenius error: lower is better"),
    Unit("relative floor", "two-sided", "an Eckart-Young floor (mathematics, not an "
                                        "optimizer): any change beyond rtol is a bug"),
    Unit("spectral norm", "two-sided", "a certificate's bound on a polar value: any change "
                                       "beyond rtol is a bug"),
    Unit("time ratio", "timing", "a time over a baseline timed in the same process: lower "
                                 "is better"),
)}
"""Every unit a tracked asv number may have."""


def unit(name: str) -> str:
    """The declared unit ``name``, for a benchmark's ``unit`` attribute (raises on a typo)."""
    if name not in UNITS:
        raise InvalidValueError(f"undeclared metric unit {name!r}; declared units: "
                                f"{', '.join(repr(k) for k in UNITS)} (convac/metrics.py)")
    return name


def rule_of(unit_name: str) -> str:
    """The judging rule of a declared unit; an undeclared unit is an error."""
    return UNITS[unit(unit_name)].rule


REPORT_SERIES: dict[str, str] = {
    "ht_odd_even_rank": "bench_rank.HTRanks.track_odd_even_rank",
    "certified_odd_even_deficit": "bench_rank.CertifiedDeficits.track_certified_odd_even_deficit",
    "ht_params": "bench_params.HTParameters.track_ht_params",
    "cp_params_needed": "bench_params.CPParametersNeeded.track_cp_params_needed",
    "fit_error": "bench_fit.WidthSweep.track_fit_error",
    "fit_floor": "bench_fit.WidthSweep.track_floor",
    "rectifier_rank": "bench_rectifier.GridRank.track_rank",
    "rectifier_rank_not_exact": "bench_rectifier.GridRank.track_not_exact",
    "rectifier_rank_width_bound": "bench_rectifier.GridRank.track_width_lower_bound",
    "rectifier_below_max": "bench_rectifier.Incompleteness.track_below_max",
    "rectifier_constant": "bench_rectifier.Incompleteness.track_constant",
    "rectifier_below_max_not_exact": "bench_rectifier.Incompleteness.track_not_exact",
    "rectifier_match_error": "bench_rectifier.ShallowMatch.track_fit_error",
    "rectifier_deep_rank": "bench_rectifier.WidthLowerBound.track_deep_rank",
    "rectifier_width_bound": "bench_rectifier.WidthLowerBound.track_width_lower_bound",
    "rectifier_universality_error": "bench_rectifier.Universality.track_fit_error",
    "rectifier_universality_gap": "bench_rectifier.Universality.track_error_minus_floor",
}
"""The asv benchmarks the depth-efficiency report draws, by the report's series name."""


def series(name: str) -> str:
    """The benchmark behind report series ``name``."""
    if name not in REPORT_SERIES:
        raise InvalidValueError(f"unknown report series {name!r}; declared: "
                                f"{', '.join(repr(k) for k in REPORT_SERIES)}")
    return REPORT_SERIES[name]
