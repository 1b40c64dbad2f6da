"""Decimal integer ranges as GBNF: the digits of ``[lo, hi]``, exactly, in a few alternatives.

:mod:`lma.models.json_grammar` bounds every integer (and the whole part of every number) with it.
A range is split by number of digits, then each same-width range into at most two sequences per
digit position (``[7, 1234]`` is six alternatives such as ``"1" [0-1] [0-9]{2,2}``), so a bound of
a billion costs no more than a bound of ten, where an enumeration of values would not fit in a
prompt-sized grammar. No leading zeros, no ``-0``: the grammar writes each number one way.
"""

from __future__ import annotations


class EmptyRange(ValueError):
    """``lo > hi``: no integer fits."""


def integer_range(lo: int, hi: int) -> str:
    """The GBNF of the decimal integers in ``[lo, hi]`` (no leading zeros, no ``-0``)."""
    if lo > hi:
        raise EmptyRange(f"no integer lies in [{lo}, {hi}]")
    options = []
    if lo < 0:
        options += [f'"-" {_digits(seq)}' for seq in _natural(max(1, -hi), -lo)]
    if hi >= 0:
        options += [_digits(seq) for seq in _natural(max(0, lo), hi)]
    return options[0] if len(options) == 1 else "(" + " | ".join(options) + ")"


def _natural(lo: int, hi: int) -> list[list[tuple[int, int]]]:
    """``[lo, hi]`` (``0 <= lo <= hi``) as digit-class sequences, one list per number of digits."""
    out = []
    for width in range(len(str(lo)), len(str(hi)) + 1):
        low = max(lo, 10 ** (width - 1) if width > 1 else 0)
        high = min(hi, 10**width - 1)
        out += _same_width(str(low), str(high))
    return out


def _same_width(x: str, y: str) -> list[list[tuple[int, int]]]:
    """``[x, y]`` for digit strings of one width: a few sequences of (low digit, high digit)."""
    if len(x) == 1:
        return [[(int(x), int(y))]]
    if x[0] == y[0]:
        return [[(int(x[0]),) * 2] + seq for seq in _same_width(x[1:], y[1:])]
    rest = len(x) - 1
    free = [(0, 9)] * rest
    out, first, last = [], int(x[0]), int(y[0])
    if x[1:] != "0" * rest:
        out += [[(first, first)] + seq for seq in _same_width(x[1:], "9" * rest)]
        first += 1
    tail = []
    if y[1:] != "9" * rest:
        tail = [[(last, last)] + seq for seq in _same_width("0" * rest, y[1:])]
        last -= 1
    if first <= last:
        out.append([(first, last)] + free)
    return out + tail


def _digits(seq: list[tuple[int, int]]) -> str:
    parts = [f'"{lo}"' if lo == hi else f"[{lo}-{hi}]" for lo, hi in seq]
    merged: list[tuple[str, int]] = []  # runs of one class: [0-9] [0-9] [0-9] -> [0-9]{3,3}
    for part in parts:
        if merged and merged[-1][0] == part:
            merged[-1] = (part, merged[-1][1] + 1)
        else:
            merged.append((part, 1))
    return " ".join(p if n == 1 else f"{p}{{{n},{n}}}" for p, n in merged)
