"""The assessor's literal prefilters (safespace.safety.prefilter): a pattern is skipped on a
text holding none of its literals, so every match must contain one, or a risk goes unseen."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safespace.reading.categories import _TOPICS, detect_topics
from safespace.safety.assess import _CUE_RULES, _FALLBACK_RULES, _RULES, _assess, prepare
from safespace.safety.prefilter import LiteralIndex, required_literals

RULES = _RULES + _CUE_RULES + _FALLBACK_RULES
FILTERED = [rule for rule in RULES if rule.literals is not None]


def _lits(pattern: str) -> set[str] | None:
    found = required_literals(re.compile(pattern))
    return None if found is None else set(found)


def test_literals_read_from_the_pattern() -> None:
    assert _lits(r"\bgoing to (?:kill|end) myself\b") == {
        "going to kill myself",
        "going to end myself",
    }
    # an optional piece gives both readings
    assert _lits(r"\bi (?:really )?want to die\b") == {"i really want to die", "i want to die"}
    # a class like \w ends a run; the longer required run is kept
    assert _lits(r"\b(?:overdose|od) on (?:\w+ )?pills") == {"overdose on ", "od on "}
    # every alternative must give one, or only what follows is known
    assert _lits(r"\b(?:rope|\w+ing) now") == {" now"}
    assert _lits(r"(?:a|b){2,5} x\d") == {" x"}
    assert _lits(r"cut(?:ting)?|slit") == {"cut", "slit"}
    # a literal that holds another adds nothing: the shorter one is enough
    assert _lits(r"end it|end it all") == {"end it"}
    # small classes are expanded, wide ones are not
    assert _lits(r"pill[sz]") == {"pills", "pillz"}
    assert _lits(r"\w+") is None
    assert _lits(r"\d+ pills|") is None  # the empty alternative matches anywhere
    assert _lits(r"(a)\1") == {"a"}
    assert _lits(r"x*") is None
    assert _lits(r"(?i)kill myself") is None  # case-blind patterns are not filtered


def test_nearly_every_pattern_gets_a_prefilter() -> None:
    assert len(FILTERED) >= 0.9 * len(RULES)
    assert all(rule.literals and all(rule.literals) for rule in FILTERED)


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_every_match_of_a_filtered_pattern_holds_one_of_its_literals(data: st.DataObject) -> None:
    rule = data.draw(st.sampled_from(FILTERED), label="rule")
    text = data.draw(st.from_regex(rule.regex, fullmatch=True), label="text")
    match = rule.regex.search(text)
    if match is None:  # a lookaround the generator ignored
        return
    assert rule.literals is not None
    assert any(literal in match.group(0) for literal in rule.literals), rule.note


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_prefilters_never_change_an_assessment(data: st.DataObject) -> None:
    """Text built around a real match of a random pattern reads the same with and without
    the gates (the hand-written ones and the prefilters)."""
    rule = data.draw(st.sampled_from(RULES), label="rule")
    core = data.draw(st.from_regex(rule.regex, fullmatch=True), label="core")
    before = data.draw(st.sampled_from(["", "i think ", "tonight ", "my friend said "]))
    after = data.draw(st.sampled_from(["", ". i am sorry", " tomorrow", ", goodbye"]))
    text = before + core + after
    assert _assess(text) == _assess(text, gated=False)
    assert _assess(text, prepared=prepare(text)) == _assess(text)  # as posting calls it


@given(
    st.lists(st.lists(st.text("abc ", min_size=1, max_size=5), max_size=4), max_size=8),
    st.text("abc ", max_size=30),
)
def test_the_index_finds_exactly_the_sets_with_a_literal_in_the_text(
    sets: list[list[str]], text: str
) -> None:
    index = LiteralIndex([tuple(s) if s else None for s in sets])
    expected = sum(1 << i for i, s in enumerate(sets) if any(lit in text for lit in s))
    assert index.matching(text) == expected


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_topic_prefilters_never_change_the_suggested_warnings(data: st.DataObject) -> None:
    pattern = data.draw(st.sampled_from(list(_TOPICS.values())), label="topic")
    text = "we spoke about " + data.draw(st.from_regex(pattern, fullmatch=True), label="core")
    norm = prepare(text).text
    every_pattern = [name for name, p in _TOPICS.items() if p.search(norm)]
    assert detect_topics(text) == every_pattern
    assert detect_topics(text, prepare(text)) == every_pattern  # as posting calls it
