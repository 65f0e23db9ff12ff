"""Literal prefilters for the assessor's patterns: a speed gate that cannot change a result.

For a compiled pattern, `required_literals` finds a small set of strings such that every
match of the pattern contains at least one of them. A text holding none of them cannot
match, so the pattern need not be run on it. The set is read from the pattern's own parse
tree, so it is right by construction, whatever the hand-written gates say; where the tree
gives no such set (a pattern that can match anything short, a class like `\\w`), the answer
is None and the pattern is always tried.

Why: most patterns open with a word alternation ("going to|gonna|..."), and checking a few
substrings costs far less than starting the regex engine on every message.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product
from typing import Any

import ahocorasick

try:  # the parser behind `re` (named sre_parse before 3.11)
    from re import _constants as _c  # type: ignore[attr-defined]
    from re import _parser as _p  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - a Python without it just runs every pattern
    _p = _c = None

_MAX_SET = 1024  # bounds the sets built from alternations (start-up time, memory)
_MAX_CLASS = 8  # a character class wider than this is not worth expanding
_RARE = 6  # a literal this long is rare enough: past it, prefer fewer literals

Literals = frozenset[str]
# (exact, required): `exact` is a finite superset of the strings the piece can match;
# `required` is a set one of which every match contains. Either may be None (unknown).
_Facts = tuple[Literals | None, Literals | None]
_EMPTY: _Facts = (frozenset({""}), None)
_UNKNOWN: _Facts = (None, None)


def required_literals(pattern: re.Pattern[str]) -> Literals | None:
    """Strings one of which every match of `pattern` contains, or None if none are known."""
    if _p is None or pattern.flags & re.IGNORECASE:
        return None
    try:
        tree = _p.parse(pattern.pattern, pattern.flags)
    except Exception:  # pragma: no cover - compiled already, so it parses
        return None
    exact, required = _sequence(list(tree))
    best = _best(exact, required)
    return None if best is None else _minimal(best)


def _best(exact: Literals | None, required: Literals | None) -> Literals | None:
    candidates = [s for s in (exact, required) if s is not None and "" not in s]
    return max(candidates, key=_score) if candidates else None


def _score(literals: Literals) -> tuple[int, int]:
    """Longer shortest literal first (rarer in text) up to a point, then fewer (cheaper)."""
    return (min(_RARE, *(len(s) for s in literals)), -len(literals))


def _minimal(literals: Literals) -> Literals:
    """Drop any literal that contains another: finding the shorter one is enough."""
    ordered = sorted(literals, key=len)
    kept: list[str] = []
    for s in ordered:
        if not any(k in s for k in kept):
            kept.append(s)
    return frozenset(kept)


def _sequence(items: list[tuple[Any, Any]]) -> _Facts:
    """A run of pieces, one after another."""
    run: Literals | None = frozenset({""})  # exact strings of the current run
    whole: Literals | None = frozenset({""})  # exact strings of everything so far
    candidates: list[Literals] = []
    for op, av in items:
        exact, required = _node(op, av)
        if required is not None:
            candidates.append(required)
        if exact is not None and run is not None and len(run) * len(exact) <= _MAX_SET:
            run = frozenset(a + b for a, b in product(run, exact))
        else:
            if run is not None:
                candidates.append(run)
            run = exact
        if whole is not None:
            whole = (
                frozenset(a + b for a, b in product(whole, exact))
                if exact is not None and len(whole) * len(exact) <= _MAX_SET
                else None
            )
    if run is not None:
        candidates.append(run)
    useful = [s for s in candidates if "" not in s]
    return whole, (max(useful, key=_score) if useful else None)


def _node(op: Any, av: Any) -> _Facts:
    c = _c
    if op is c.LITERAL:
        return frozenset({chr(av)}), None
    if op in (c.AT, c.ASSERT, c.ASSERT_NOT):  # zero width: matches no characters
        return _EMPTY
    if op is c.IN:
        return _class(av), None
    if op is c.SUBPATTERN:
        _group, add_flags, _del_flags, sub = av
        if add_flags & re.IGNORECASE:
            return _UNKNOWN
        return _sequence(list(sub))
    if op is c.ATOMIC_GROUP:
        return _sequence(list(av))
    if op is c.BRANCH:
        return _branch([_sequence(list(alt)) for alt in av[1]])
    if op in (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", None)):
        low, high, sub = av
        exact, required = _sequence(list(sub))
        if low == 0:
            if high == 1 and exact is not None:
                return exact | {""}, None
            return _EMPTY if high == 0 else (None, None)
        best = _best(exact, required)
        if low == high == 1:
            return exact, best
        return None, best
    return _UNKNOWN  # ANY, NOT_LITERAL, CATEGORY, back references...


def _class(av: list[tuple[Any, Any]]) -> Literals | None:
    chars: set[str] = set()
    for op, value in av:
        if op is _c.LITERAL:
            chars.add(chr(value))
        elif op is _c.RANGE and value[1] - value[0] < _MAX_CLASS:
            chars.update(chr(i) for i in range(value[0], value[1] + 1))
        else:  # NEGATE, CATEGORY, a wide range
            return None
    return frozenset(chars) if 0 < len(chars) <= _MAX_CLASS else None


def _branch(alternatives: list[_Facts]) -> _Facts:
    exacts = [e for e, _ in alternatives]
    exact: Literals | None = None
    if all(e is not None for e in exacts):
        union = frozenset().union(*(e for e in exacts if e is not None))
        exact = union if len(union) <= _MAX_SET else None
    bests = [_best(e, r) for e, r in alternatives]
    required: Literals | None = None
    if all(b is not None for b in bests):
        union = frozenset().union(*(b for b in bests if b is not None))
        required = union if len(union) <= _MAX_SET else None
    return exact, required


class LiteralIndex:
    """Which of many literal sets have a member in a text, found in one pass over the text.

    Set i sets bit i of the answer. Every literal is a word of one Aho-Corasick automaton
    (pyahocorasick, in C), which finds every occurrence of every literal, overlapping ones
    included, in a single walk along the text: about 4 µs for a chat line against the
    assessor's ten thousand literals, where filing them under three-character pieces of
    the text and looking for each in Python took 50 (docs/performance.md, change 31).
    """

    __slots__ = ("_automaton", "_always")

    def __init__(self, sets: Sequence[Literals | tuple[str, ...] | None]) -> None:
        bits: dict[str, int] = {}
        for i, literals in enumerate(sets):
            for literal in literals or ():
                bits[literal] = bits.get(literal, 0) | 1 << i
        self._always = bits.pop("", 0)  # every text holds the empty string
        self._automaton = None  # no literals: nothing to look for
        if bits:
            self._automaton = ahocorasick.Automaton()
            for literal, bit in bits.items():
                self._automaton.add_word(literal, bit)
            self._automaton.make_automaton()

    def matching(self, text: str) -> int:
        mask = self._always
        if self._automaton is not None:
            for _end, bit in self._automaton.iter(text):
                mask |= bit
        return mask


@dataclass(frozen=True, slots=True)
class Prepared:
    """A normalised text, read once and shared by the assessor and the topic reader."""

    text: str
