"""Checks of tensor and array arguments (features, images, templates, dtypes, devices).

They need torch and numpy, which :mod:`convac.validate` does not import (``convac
--help`` loads it without either); every error is of :mod:`convac.validate`'s family.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .validate import InvalidTypeError, InvalidValueError, short_repr

__all__ = ["real_tensor", "FLOAT_DTYPES", "float_dtype", "device", "float_array"]


def real_tensor(value: Any, name: str, ndim: int | None = None, *, finite: bool = False):
    """``value`` if it is a torch tensor of real floating dtype with data (not on the
    ``meta`` device) and, when given, ``ndim`` dimensions; ``finite`` also refuses NaN and
    infinities (a pass over the data).

    Raises
    ------
    TypeError
        Not a tensor; a complex, integer or bool dtype (a complex value would lose its
        imaginary part silently); a tensor without data.
    ValueError
        Wrong number of dimensions, or a non-finite entry with ``finite``.
    """
    if not isinstance(value, torch.Tensor):
        raise InvalidTypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if not value.dtype.is_floating_point:
        raise InvalidTypeError(f"{name} must have a real floating dtype (float32, float64, "
                               f"..), got {value.dtype}")
    if value.device.type == "meta":
        raise InvalidTypeError(f"{name} is on the 'meta' device (shape only, no data); "
                               "expected a tensor with values")
    if ndim is not None and value.ndim != ndim:
        raise InvalidValueError(f"{name} must have {ndim} dimensions, got shape "
                                f"{tuple(value.shape)}")
    if finite and not bool(torch.isfinite(value).all()):
        raise InvalidValueError(f"{name} must be finite, got NaN or infinite entries")
    return value


FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
"""The dtypes a network's parameters may have (by torch name; aliases ``float``,
``double``, ``half`` and a ``torch.`` prefix are accepted)."""


def float_dtype(value: Any, name: str = "dtype"):
    """``None`` (torch's default dtype) or a real floating ``torch.dtype``, also given by
    name (``"float64"``, ``"torch.float64"``, ``"double"``)."""
    if value is None:
        return None
    if isinstance(value, str):
        key = value.removeprefix("torch.")
        found = getattr(torch, key, None)
        if not isinstance(found, torch.dtype) or not found.is_floating_point:
            raise InvalidValueError(f"{name}={value!r} is no floating dtype; expected one of "
                                    f"{', '.join(FLOAT_DTYPES)} (a torch.dtype or its name)")
        return found
    if not isinstance(value, torch.dtype):
        raise InvalidTypeError(f"{name} must be a torch.dtype or its name (e.g. "
                               f"torch.float64 or 'float64'), got {type(value).__name__} "
                               f"{value!r}")
    if not value.is_floating_point:
        raise InvalidValueError(f"{name}={value} cannot hold trained weights (gradients need "
                                f"a real floating dtype); expected one of "
                                f"{', '.join(FLOAT_DTYPES)}, e.g. torch.float64")
    return value


def device(value: Any, name: str = "device"):
    """``None`` (the CPU) or a ``torch.device`` that exists here: ``"cuda"`` without a
    visible CUDA device is an error saying so (torch's own is an AssertionError)."""
    if value is None:
        return None
    try:
        dev = torch.device(value)
    except (RuntimeError, TypeError) as exc:
        raise InvalidValueError(f"{name}={value!r} is no torch device ({exc}); expected "
                                "'cpu', 'cuda', 'cuda:0', ... or a torch.device") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InvalidValueError(
                f"{name}={value!r}, but no CUDA device is available (torch "
                f"{torch.__version__}, CUDA build: {torch.version.cuda or 'none'}); use "
                "device='cpu' or install a CUDA build of torch on a machine with a GPU")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InvalidValueError(f"{name}={value!r}: only {torch.cuda.device_count()} CUDA "
                                    "device(s) are visible")
    return dev


def float_array(value: Any, name: str, expected: str):
    """``value`` (array_like, a tensor included) as a float64 numpy array; ragged nested
    lists, strings and other non-numbers are an error naming ``name`` and the ``expected``
    shape (numpy's own says "inhomogeneous shape" without naming the argument)."""
    if hasattr(value, "detach"):
        value = value.detach().cpu()
    dtype = getattr(value, "dtype", None)
    if value is None or isinstance(value, (str, bytes, complex, np.complexfloating)) or (
            getattr(dtype, "is_complex", False) or getattr(dtype, "kind", "") == "c"):
        raise InvalidTypeError(f"{name} must be a real, rectangular array of numbers of shape "
                               f"{expected}, got {type(value).__name__} {short_repr(value)}")
    try:
        return np.asarray(value, dtype=np.float64)
    except (ValueError, TypeError) as exc:
        raise InvalidValueError(f"{name} must be a real, rectangular array of numbers of shape "
                                f"{expected}, got {type(value).__name__} that is not "
                                f"({str(exc).split(';')[0].split('. ')[0]})") from None
