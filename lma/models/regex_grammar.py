"""A safe subset of regular expressions, translated to GBNF over the characters of a JSON string.

:mod:`lma.models.json_grammar` uses it for the ``pattern`` keyword. The translation is exact for
the subset below, with one deliberate narrowing: the grammar writes each character one way (a
``"`` or ``\\`` as its JSON escape, control characters only where the pattern names them), so
every string it accepts matches the pattern, while a few spellings of the same string that a JSON
parser would also read (``\\u0061`` for ``a``) are not produced.

The subset: literal characters and escapes (``\\.``, ``\\n``, ``\\xHH``, ``\\uHHHH``), ``.``,
classes ``[a-z_]`` and ``[^...]``, ``\\d \\w \\s`` (ASCII meanings; their negations and negated
classes are held to printable ASCII, since Python's ``re``, which validates, reads ``\\d`` as any
Unicode digit), groups ``(...)`` and ``(?:...)``, ``|``, and the quantifiers ``? * + {m} {m,}
{m,n}`` (lazy ``?`` suffixes too: a full match does not depend on them). ``^`` may open and ``$``
close the whole pattern; where they are absent the string may have any prefix or suffix (JSON
Schema patterns search, they do not match the whole string). Anything else (back-references,
look-arounds, word boundaries, Unicode classes, anchors elsewhere) raises :class:`RegexUnsupported`
with the construct named, and the caller falls back to validation. Unbounded quantifiers are capped
at ``cap`` repetitions, so a pattern cannot let a weak model write until ``max_tokens``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

ASCII = ((0x20, 0x7E),)
SHORTHANDS = {"d": ((0x30, 0x39),), "w": ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)),
              "s": ((0x09, 0x0D), (0x20, 0x20))}
ESCAPES = {"n": 0x0A, "t": 0x09, "r": 0x0D, "f": 0x0C, "v": 0x0B, "0": 0x00}
SPECIAL = (0x22, 0x5C)  # '"' and '\\': written as JSON escapes


class RegexUnsupported(ValueError):
    """The pattern uses a construct outside the subset; the message names it."""


@dataclass(frozen=True)
class Piece:
    """A GBNF expression and the least and most characters (decoded) it spans."""

    expr: str
    low: int
    high: int


def gbnf_char(code: int) -> str:
    """One code point as a GBNF escape, valid in literals and classes alike."""
    return f"\\x{code:02X}" if code < 0x100 else f"\\u{code:04X}" if code < 0x10000 else f"\\U{code:08X}"


def json_literal(text: str) -> str:
    """A GBNF literal for ``text``: ``"`` and ``\\`` escaped, control characters as ``\\xHH``.

    Hex escapes are kept for characters that never sit beside a hex digit in JSON text: some GBNF
    readers take ``\\x22b`` as one escape.
    """
    return '"' + "".join("\\" + c if c in '"\\' else gbnf_char(ord(c)) if ord(c) < 0x20 else c for c in text) + '"'


def _subtract(ranges: tuple[tuple[int, int], ...], holes: tuple[tuple[int, int], ...]) -> list[tuple[int, int]]:
    out = sorted(ranges)
    for lo_h, hi_h in holes:
        out = [part for lo, hi in out for part in ((lo, min(hi, lo_h - 1)), (max(lo, hi_h + 1), hi)) if part[0] <= part[1]]
    return out


def char_set(ranges: tuple[tuple[int, int], ...], negated: bool = False) -> str:
    """A GBNF expression for one JSON-string character from a set of code point ranges.

    A negated set is taken within printable ASCII, never control characters (see the module
    docstring); ``"``, ``\\`` and control characters in a positive set are written as JSON escapes.
    """
    plain = _subtract(ASCII, ranges) if negated else _subtract(ranges, ((0x00, 0x1F),) + tuple((c, c) for c in SPECIAL))
    wanted = _subtract(ASCII, ranges) if negated else sorted(ranges)
    escaped = [c for lo, hi in wanted for c in range(lo, min(hi, 0x5C) + 1) if c <= 0x1F or c in SPECIAL]
    options = []
    if plain:
        options.append("[" + "".join(gbnf_char(lo) + ("" if lo == hi else "-" + gbnf_char(hi)) for lo, hi in plain) + "]")
    options += [json_literal(_json_escape(c)) for c in escaped]
    if not options:
        raise RegexUnsupported("a character class that matches nothing")
    return options[0] if len(options) == 1 else "(" + " | ".join(options) + ")"


def _json_escape(code: int) -> str:
    return json.dumps(chr(code))[1:-1]


class _Parser:
    def __init__(self, pattern: str, cap: int):
        self.src, self.pos, self.cap, self.options = pattern, 0, cap, 1

    def peek(self) -> str:
        return self.src[self.pos] if self.pos < len(self.src) else ""

    def take(self) -> str:
        c = self.peek()
        self.pos += 1
        return c

    def alternation(self) -> Piece:
        options = [self.sequence()]
        while self.peek() == "|":
            self.take()
            options.append(self.sequence())
        self.options = len(options)  # the outermost call returns last: the top level's count
        if len(options) == 1:
            return options[0]
        return Piece("(" + " | ".join(p.expr or '""' for p in options) + ")",
                     min(p.low for p in options), max(p.high for p in options))

    def sequence(self) -> Piece:
        parts: list[Piece] = []
        while self.peek() not in ("", "|", ")"):
            parts.append(self.quantified(self.atom()))
        return Piece(" ".join(p.expr for p in parts if p.expr), sum(p.low for p in parts), sum(p.high for p in parts))

    def atom(self) -> Piece:
        c = self.take()
        if c == "(":
            if self.peek() == "?":
                if self.src[self.pos : self.pos + 2] != "?:":
                    raise RegexUnsupported(f"the group '(?{self.src[self.pos + 1 : self.pos + 2]}' (look-arounds, named or flagged groups)")
                self.pos += 2
            inner = self.alternation()
            if self.take() != ")":
                raise RegexUnsupported("an unclosed group")
            return Piece(f"({inner.expr or chr(34) * 2})", inner.low, inner.high)
        if c == "[":
            return Piece(self.char_class(), 1, 1)
        if c == ".":
            return Piece(char_set(((0x0A, 0x0A),), negated=True), 1, 1)
        if c == "\\":
            return Piece(self.escape(), 1, 1)
        if c in "^$":
            raise RegexUnsupported(f"'{c}' anywhere but at the very start or end of the pattern")
        if c in "*+?" or (c == "{" and self._braces(self.pos - 1, peek=True)):
            raise RegexUnsupported(f"a quantifier '{c}' with nothing to repeat")
        return Piece(char_set(((ord(c), ord(c)),)), 1, 1)

    def _braces(self, at: int, peek: bool = False) -> tuple[int, int | None] | None:
        """The bounds of a ``{m}``, ``{m,}`` or ``{m,n}`` at ``at`` (moving past it unless ``peek``),
        or None where the brace is a literal character, as Python's ``re`` reads it."""
        close = self.src.find("}", at)
        low, comma, high = self.src[at + 1 : close].partition(",") if close != -1 else ("", "", "")
        if not low.isdigit() or (high and not high.isdigit()):
            return None
        if not peek:
            self.pos = close + 1
        return int(low), (int(high) if high else None) if comma else int(low)

    def quantified(self, piece: Piece) -> Piece:
        c = self.peek()
        if c in ("?", "*", "+"):
            self.take()
            low, high = {"?": (0, 1), "*": (0, None), "+": (1, None)}[c]
        elif c == "{" and (bounds := self._braces(self.pos)) is not None:
            low, high = bounds
        else:
            return piece
        if self.peek() == "?":
            self.take()  # lazy: the same strings match in full
        if self.peek() in ("*", "+"):
            raise RegexUnsupported("possessive quantifiers")
        high = self.cap if high is None else high
        if high < low:
            raise RegexUnsupported(f"the quantifier {{{low},{high}}}")
        expr = piece.expr if piece.expr.startswith("(") or " " not in piece.expr else f"({piece.expr})"
        return Piece(f"{expr}{{{low},{high}}}" if (low, high) != (1, 1) else expr, piece.low * low, piece.high * high)

    def escape(self) -> str:
        ranges, negated = self.escape_ranges()
        return char_set(ranges, negated)

    def escape_ranges(self) -> tuple[tuple[tuple[int, int], ...], bool]:
        c = self.take()
        if c.lower() in SHORTHANDS:
            return SHORTHANDS[c.lower()], c.isupper()
        if c in ESCAPES:
            return ((ESCAPES[c],) * 2,), False
        if c in "xu":
            width = 2 if c == "x" else 4
            digits = self.src[self.pos : self.pos + width]
            if len(digits) != width or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise RegexUnsupported(f"the escape '\\{c}{digits}'")
            self.pos += width
            return ((int(digits, 16),) * 2,), False
        if c.isalnum() or c == "":
            raise RegexUnsupported(f"the escape '\\{c}' (back-references, boundaries, Unicode classes)")
        return ((ord(c),) * 2,), False

    def char_class(self) -> str:
        negated = self.peek() == "^"
        if negated:
            self.take()
        ranges: list[tuple[int, int]] = []
        first = True
        while True:
            c = self.take()
            if c == "":
                raise RegexUnsupported("an unclosed character class")
            if c == "]" and not first:
                break
            first = False
            if c == "\\":
                found, neg = self.escape_ranges()
                if neg:
                    raise RegexUnsupported("\\D, \\W or \\S inside a character class")
                if len(found) > 1 or found[0][0] != found[0][1]:
                    ranges += found
                    continue
                low = found[0][0]
            elif c == "[" and self.peek() in ":=.":
                raise RegexUnsupported("POSIX classes like [:alpha:]")
            else:
                low = ord(c)
            if self.peek() == "-" and self.src[self.pos + 1 : self.pos + 2] not in ("]", ""):
                self.take()
                end = self.take()
                high = self.escape_ranges()[0][0][0] if end == "\\" else ord(end)
                if high < low:
                    raise RegexUnsupported(f"the reversed range {chr(low)}-{chr(high)}")
                ranges.append((low, high))
            else:
                ranges.append((low, low))
        return char_set(tuple(ranges), negated)


def pattern_piece(pattern: str, any_char: str, cap: int) -> Piece:
    """The GBNF for the strings (JSON-escaped, without quotes) that ``pattern`` finds a match in.

    ``any_char`` is the expression of one free character, used for the prefix and suffix an
    unanchored pattern allows; ``cap`` bounds unbounded repetitions and those free ends.
    Raises :class:`RegexUnsupported` for constructs outside the subset.
    """
    start = pattern.startswith("^")
    end = pattern.endswith("$") and (len(pattern) - 1 - len(pattern[:-1].rstrip("\\"))) % 2 == 0  # not an escaped $
    body = pattern[1 if start else 0 : len(pattern) - 1 if end else len(pattern)]
    parser = _Parser(body, cap)
    piece = parser.alternation()
    if parser.pos < len(body):
        raise RegexUnsupported(f"an unmatched ')' at position {parser.pos}")
    if (start or end) and parser.options > 1:
        raise RegexUnsupported("'^' or '$' with a top-level '|' (write ^(a|b)$)")
    free = f"{any_char}{{0,{cap}}}"
    parts = ([] if start else [free]) + ([piece.expr] if piece.expr else []) + ([] if end else [free])
    return Piece(" ".join(parts) or '""', piece.low, piece.high + (0 if start else cap) + (0 if end else cap))
