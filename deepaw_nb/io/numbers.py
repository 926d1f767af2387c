"""Fast, strict parsing of whitespace-separated numbers (volumetric data blocks).

``numpy.fromstring(..., sep=" ")`` parses at C speed but has quirks (a whitespace-only string
gives ``[-1.]``; it stops silently on some bytes), so every fast parse is checked against a
vectorised token count and falls back to a token-by-token parse that names the bad value.
Fortran's three-digit exponents without ``E`` (``0.12345-100``) are accepted.
"""

from __future__ import annotations

import re
import warnings

import numpy as np

__all__ = ["BadNumber", "count_tokens", "parse_numbers"]

_WHITESPACE = np.zeros(256, dtype=bool)
_WHITESPACE[[9, 10, 11, 12, 13, 32]] = True
_FORTRAN_EXP = re.compile(rb"^([+-]?(?:\d+\.?\d*|\.\d+))([+-]\d{2,3})$")


class BadNumber(ValueError):
    """A token that is not a number; ``index`` counts tokens from the start of the parsed text."""

    def __init__(self, index: int, token: bytes) -> None:
        super().__init__(index, token)
        self.index = index
        self.token = token


def _token_starts(data: bytes) -> np.ndarray:
    is_space = _WHITESPACE[np.frombuffer(data, dtype=np.uint8)]
    prev_space = np.empty_like(is_space)
    prev_space[0] = True
    prev_space[1:] = is_space[:-1]
    return np.flatnonzero(~is_space & prev_space)


def count_tokens(data: bytes) -> int:
    """Number of whitespace-separated tokens in ``data`` (vectorised)."""
    return int(_token_starts(data).size) if data else 0


def _parse_token(token: bytes) -> float:
    try:
        return float(token)
    except ValueError:
        match = _FORTRAN_EXP.match(token)
        if match is None:
            raise
        return float(match.group(1) + b"E" + match.group(2))


def parse_numbers(data: bytes, limit: int | None = None) -> np.ndarray:
    """Parse whitespace-separated numbers from ``data``; at most ``limit`` of them.

    Tokens after the first ``limit`` are not looked at (they may be text, e.g. VASP's
    "augmentation occupancies").  Raises :class:`BadNumber` for the first token that is not a
    number.  Returns float64.
    """
    if limit is not None and limit <= 0:
        return np.empty(0, dtype=np.float64)
    if not data:
        return np.empty(0, dtype=np.float64)
    starts = _token_starts(data)
    if limit is not None and starts.size > limit:
        data = data[: int(starts[limit])]  # never look past the tokens we need
    if starts.size == 0:
        return np.empty(0, dtype=np.float64)
    n_tokens = min(int(starts.size), limit) if limit is not None else int(starts.size)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            values = np.fromstring(data, dtype=np.float64, sep=" ")
    except (ValueError, DeprecationWarning):
        values = None
    if values is not None and values.size == n_tokens:
        return values
    # Slow path (bad token or Fortran exponent): token by token, so the culprit can be named.
    out = np.empty(n_tokens, dtype=np.float64)
    for i, token in enumerate(data.split()[:n_tokens]):
        try:
            out[i] = _parse_token(token)
        except ValueError:
            raise BadNumber(i, token) from None
    return out
