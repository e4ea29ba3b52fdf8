"""One formatter of measured numbers for the text tables, the gate and the report."""

from __future__ import annotations

import math
import numbers

__all__ = ["format_number"]


def format_number(v, digits: int = 4, missing: str = "failed", nan: str = "n/a") -> str:
    """A number as a short string: integers (and integral floats below ``1e15``) in full,
    other reals with ``digits`` significant digits.

    Parameters
    ----------
    v : int, float, None or any other value
        ``None`` is a measurement that failed; a value that is not a real number is
        written with ``str``.
    digits : int, default 4
        Significant digits of a non-integral real.
    missing, nan : str
        What ``None`` and NaN become (e.g. an HTML span in the report).

    Returns
    -------
    str
    """
    if v is None:
        return missing
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        return str(v)
    x = float(v)
    if math.isnan(x):
        return nan
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.{digits}g}"
