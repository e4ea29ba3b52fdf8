"""Strict JSON for everything convac writes for others to read.

Python's ``json`` writes ``Infinity`` and ``NaN``, which are not JSON (RFC 8259) and which
strict parsers (JavaScript's ``JSON.parse``, ``jq``) refuse.  Here a non-finite float
becomes ``null`` (its meaning -- "no finite value", e.g. the margin of a rank with no gap
to measure -- is documented where the field is), and anything else that is not JSON is an
error instead of a silent ``str``.
"""

from __future__ import annotations

import json
import math

__all__ = ["finite", "dumps", "dump"]


def finite(obj):
    """``obj`` with every non-finite float (``inf``, ``-inf``, ``nan``) replaced by
    ``None``, through dicts, lists and tuples; numpy scalars become Python numbers."""
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", None) == 0:
        obj = obj.item()  # a numpy or torch scalar
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def dumps(obj, **kwargs) -> str:
    """``json.dumps`` of :func:`finite` ``(obj)`` with ``allow_nan=False``."""
    return json.dumps(finite(obj), allow_nan=False, **kwargs)


def dump(obj, fh, **kwargs) -> None:
    """``json.dump`` of :func:`finite` ``(obj)`` with ``allow_nan=False``."""
    json.dump(finite(obj), fh, allow_nan=False, **kwargs)
