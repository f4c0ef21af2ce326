"""The argument checks every module shares: one rule, one message, one exception type each.

A wrong *type* (a float where a count belongs, a bool, a string) raises ``TypeError``; a value of
the right type outside its range raises ``ValueError``. Every message names the argument, the
value and the limit. NumPy integer and float scalars count as integers and floats.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from numbers import Integral, Real

import numpy as np
import numpy.typing as npt

__all__ = ["check_integer", "check_choice", "check_real", "check_bool", "check_float_dtype",
           "check_float_array"]


def check_integer(name: str, value: object, least: int = 0) -> int:
    """``value`` as an ``int`` if it is an integer ``>= least`` (else TypeError / ValueError)."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if value < least:
        raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
    return int(value)


def check_choice(name: str, value: object, choices: Collection[str]) -> str:
    """``value`` if it is one of ``choices`` (ValueError naming them otherwise)."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def check_real(name: str, value: object, *, least: float = -math.inf, above: bool = False,
               below: float = math.inf) -> float:
    """``value`` as a finite ``float`` in ``[least, below)`` (``(least, below)`` with ``above``)."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    number = float(value)
    low_ok = number > least if above else number >= least
    if not (math.isfinite(number) and low_ok and number < below):
        low = f"> {least}" if above else f">= {least}"
        limit = low if below == math.inf else f"{low} and < {below}"
        raise ValueError(f"{name} must be a finite number {limit}, got {value!r}")
    return number


def check_bool(name: str, value: object) -> bool:
    """``value`` as a ``bool`` if it is True or False (NumPy's too); TypeError otherwise."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r} ({type(value).__name__})")
    return bool(value)


def check_float_dtype(name: str, dtype: npt.DTypeLike) -> np.dtype:
    """``np.dtype(dtype)`` if it is a floating-point dtype (TypeError otherwise)."""
    try:
        checked = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name} must be a floating-point dtype, got {dtype!r}") from None
    if checked.kind != "f":
        raise TypeError(f"{name} must be a floating-point dtype such as np.float32, got {checked}")
    return checked


def check_float_array(name: str, x: object) -> np.ndarray:
    """``np.asarray(x)`` if its dtype is floating point (TypeError with the fix otherwise)."""
    array = np.asarray(x)
    if array.dtype.kind != "f":
        raise TypeError(f"{name} must be a floating-point array, got dtype {array.dtype}; "
                        f"convert it with {name}.astype(np.float32)")
    return array
