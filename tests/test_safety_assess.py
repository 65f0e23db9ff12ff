"""The local risk assessor (safespace.safety.assess) on its labelled development set.

tests/data/risk_dev_set.jsonl is the development set the rules were written against.
tests/data/risk_blind_2.jsonl was written blind and measured once before tuning; the rules
were then widened from its misses, so here it gets a regression floor.
tests/data/risk_holdout.jsonl was written blind and is never tuned on: its figures are
reported by bench/safety.py, and here it is used only for properties that do not depend
on its labels (signals are consistent, speed gates change nothing).
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest

from safespace.safety import Assessment, assess, normalise
from safespace.safety.assess import (
    _CUE_RULES,
    _FALLBACK_RULES,
    _LEAVING_NOTES,
    _RULES,
    _TIMED_ACTS,
    ELEVATED_SIGNALS,
    IMMINENT_SIGNALS,
    _assess,
)
from safespace.safety.cli import run_assess

DATA = Path(__file__).parent / "data"


def _load(name: str) -> list[dict[str, str]]:
    with open(DATA / name, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


DEV = _load("risk_dev_set.jsonl")
BLIND = _load("risk_blind_2.jsonl")
HOLDOUT = _load("risk_holdout.jsonl")


# --- the development set meets the targets ------------------------------------------------


def _rates(rows: list[dict[str, str]]) -> tuple[float, float, float]:
    got = [(row["level"], assess(row["text"]).level) for row in rows]
    imminent = [g for gold, g in got if gold == "imminent"]
    elevated = [g for gold, g in got if gold == "elevated"]
    none = [g for gold, g in got if gold == "none"]
    return (
        sum(g == "imminent" for g in imminent) / len(imminent),
        sum(g != "none" for g in elevated) / len(elevated),
        sum(g != "none" for g in none) / len(none),
    )


def test_dev_set_is_large_and_covers_every_level() -> None:
    levels = [row["level"] for row in DEV]
    assert len(DEV) >= 300
    assert set(levels) == {"none", "elevated", "imminent"}
    assert min(levels.count(level) for level in set(levels)) >= 50


def test_dev_set_meets_recall_and_false_alarm_targets() -> None:
    imminent_recall, elevated_recall, false_alarms = _rates(DEV)
    assert imminent_recall >= 0.95
    assert elevated_recall >= 0.90  # elevated or imminent counts as detected
    assert false_alarms <= 0.05


def test_dev_set_misses_are_few_enough_to_list() -> None:
    """Exact-level errors on the dev set, listed so a regression says which message."""
    wrong = [
        (row["level"], assess(row["text"]).level, row["text"])
        for row in DEV
        if assess(row["text"]).level != row["level"]
    ]
    assert len(wrong) <= len(DEV) // 20, wrong


def test_blind_set_regression_floor() -> None:
    """Not the targets: a floor under the second blind set's current figures (imminent
    0.78, elevated 0.59, false alarms 0.01; at first contact 0.47 / 0.49 / 0.01). A change
    that drops below it has undone rules that generalised."""
    imminent_recall, elevated_recall, false_alarms = _rates(BLIND)
    assert imminent_recall >= 0.75
    assert elevated_recall >= 0.55
    assert false_alarms <= 0.05


@pytest.mark.parametrize("name", ["risk_dev_set.jsonl", "risk_blind_2.jsonl", "risk_holdout.jsonl"])
def test_every_flag_is_explained_by_its_signals(name: str) -> None:
    for row in _load(name):
        result = assess(row["text"])
        if result.level == "none":
            assert result.signals == ()
        else:
            assert result.signals, row["text"]
        if result.level == "imminent":
            assert set(result.signals) & set(IMMINENT_SIGNALS), row["text"]
        else:
            assert not set(result.signals) & set(IMMINENT_SIGNALS), row["text"]
        assert set(result.signals) <= set(IMMINENT_SIGNALS) | set(ELEVATED_SIGNALS)
        assert list(result.signals) == sorted(
            result.signals, key=(IMMINENT_SIGNALS + ELEVATED_SIGNALS).index
        )


def test_speed_gates_never_change_a_result() -> None:
    texts = [row["text"] for row in DEV + HOLDOUT] + HARD_NEGATIVES + HARD_POSITIVE_TEXTS
    for text in texts:
        assert _assess(text) == _assess(text, gated=False), text


def test_rule_tables_are_consistent() -> None:
    notes = {rule.note for rule in _RULES}
    assert _LEAVING_NOTES <= notes
    assert _TIMED_ACTS <= {rule.note for rule in _CUE_RULES}
    for rule in _RULES + _FALLBACK_RULES:
        assert rule.signal in IMMINENT_SIGNALS + ELEVATED_SIGNALS


# --- ordinary talk stays calm -----------------------------------------------------------

HARD_NEGATIVES = [
    # figures of speech
    "This meeting killed me",
    "I'm dying to try the new cafe",
    "I could kill for a coffee",
    "My phone is dying, will reply later",
    "This traffic is killing me",
    "I laughed so hard I almost died",
    "I'm killing myself at the gym lately, legs are so sore",
    "I could kill myself for forgetting my keys again lol",
    "I'm so tired today, I could sleep forever lol",
    "If my sister borrows my jumper again I'll kill her",
    "I'd rather die than sing karaoke",
    "Dying my hair blue this weekend!",
    "I'm going to cut my hair tonight",
    "I'm going to end it with him tonight, I've made up my mind",
    "I'm ending things with my boyfriend this weekend, wish me luck",
    "I'm hopeless at cooking, burned the pasta again",
    "There's no way out of this car park, the barrier is broken",
    "Life is pointless without coffee lol",
    "Tonight's the night, first date in three years!",
    "I'll be gone by morning - early train to Leeds!",
    "I'm going to jump in the shower and then call you",
    # third person, questions about helping others
    "My best friend tried to kill herself last month and I don't know how to act around her",
    "My daughter said 'I wish I was dead' after a fight with her friends. Should I be worried?",
    "My friend keeps saying 'kms' about everything, is that something to worry about?",
    "He said everyone would be better off without him and then hung up. I'm so worried.",
    "My partner feels hopeless and I don't know how to help him",
    "How do I support a friend who is suicidal?",
    "What should I do if a member here says they want to end their life?",
    "Is 'unalive' just a TikTok word? My kid keeps saying it",
    # past and recovery
    "Three years since my last attempt. I'm still here and glad of it.",
    "Three years free from self-harm today",
    "I used to cut but I haven't in a long time",
    "I used to think about ending it all the time, now I have a job I love",
    "I was suicidal for most of 2019. What helped me was telling my GP.",
    "Last year I felt like my family would be better off without me. This year we went on holiday.",
    # news and prevention
    "Reminder: World Suicide Prevention Day is on the 10th",
    "Has anyone read the new research on ketamine for suicidal depression?",
    "The crisis line number is 988 in the US if anyone needs it",
    "Interesting article about overdose deaths rising in rural areas",
    # negation
    "I'm not going to kill myself, I promise. I'm just really angry tonight.",
    "To be clear I'm not suicidal, I just need to rant",
    "I don't think I'm suicidal, just exhausted",
    "I would never hurt myself, my kids need me",
    "I don't want to die, I just want things to change",
    # confusables and ordinary goodbyes
    "Took my meds and now I'm going to bed",
    "I took two paracetamol for my headache",
    "I took all my tablets for the week out of the organiser to count them",
    "I've got my meds with me for the weekend trip",
    "Bought a rope swing for the kids' garden, they love it",
    "Cut myself shaving this morning, great start to the day",
    "My plan for tonight is a bath, a book and bed by ten",
    "I've decided to do it! Booking my first therapy session tomorrow",
    "I'm going to do it tonight - finally calling my dad to clear the air",
    "Logging off for the night, thanks everyone, see you tomorrow",
    "Goodbye for now, see you all next week",
    "This is my last message before the surgery tomorrow, I'll update you all when I'm out",
    "Sorry I won't be here on Thursday, doctor's appointment",
    "Thank you all so much for the birthday wishes, I love you guys",
    "Goodbye 2023, you were a tough year",
]


@pytest.mark.parametrize("text", HARD_NEGATIVES)
def test_hard_negative_is_none(text: str) -> None:
    result = assess(text)
    assert result.level == "none", result


# --- risk is noticed, including slang and misspellings ----------------------------------

HARD_POSITIVES = [
    # elevated
    ("I don't want to be here anymore", "elevated", "passive_ideation"),
    ("i dont wanna be here no more", "elevated", "passive_ideation"),
    ("dont wanna wake up tmrw", "elevated", "passive_ideation"),
    ("i feel suicdal and i don't know who to tell", "elevated", "passive_ideation"),
    ("im sucidal again", "elevated", "passive_ideation"),
    ("I think about sewerslide a lot lately", "elevated", "passive_ideation"),
    ("ngl i've been thinking abt kms a lot", "elevated", "passive_ideation"),
    ("i wanna dieeee", "elevated", "passive_ideation"),
    ("i w\u200bant to d\u200bie", "elevated", "passive_ideation"),
    ("I\u2019m tired of being alive", "elevated", "passive_ideation"),
    ("I\u2019ve lost the will to live", "elevated", "passive_ideation"),
    ("I'd honestly be fine if I didn't wake up tomorrow", "elevated", "passive_ideation"),
    ("i wanna sh rn", "elevated", "self_harm_urge"),
    ("Can't stop thinking about cutting", "elevated", "self_harm_urge"),
    ("im struggling not to cut tonight", "elevated", "self_harm_urge"),
    ("relapsed on self harm yesterday. feeling so ashamed", "elevated", "recent_self_harm"),
    ("I've been hitting myself when I get overwhelmed", "elevated", "recent_self_harm"),
    ("i cant go on anymore", "elevated", "hopelessness"),
    ("Nothing is ever going to get better for me", "elevated", "hopelessness"),
    ("idk whats the point of living anymore tbh", "elevated", "passive_ideation"),
    ("i feel like a burdan to my mum", "elevated", "burden"),
    ("Everyone would be better off without me", "elevated", "burden"),
    ("nobody cares if i live or die", "elevated", "burden"),
    # imminent
    ("gonna kms", "imminent", "intent"),
    ("im going to unalive myself", "imminent", "intent"),
    ("i'm going to k1ll mys3lf", "imminent", "intent"),
    ("I'M GOING TO KILL MYSELF", "imminent", "intent"),
    ("i am gonna kil myself", "imminent", "intent"),
    ("I just want to end it all", "imminent", "intent"),
    ("I can't keep myself safe right now", "imminent", "intent"),
    ("I'm going to od tonight", "imminent", "intent"),
    ("tomorrow morning i'm going to jump", "imminent", "intent"),
    ("I've written my suicide note", "imminent", "plan"),
    ("I have it all planned, I just need everyone to be out of the house", "imminent", "plan"),
    ("I've been saving up my pills for months so I can end it", "imminent", "means"),
    ("Got the pills. Tonight.", "imminent", "means"),
    ("I'll be gone by morning", "imminent", "timing"),
    ("Not going to be here after tonight", "imminent", "timing"),
    ("Goodbye everyone. Thank you for everything. I'm sorry.", "imminent", "goodbye"),
    ("If you're reading this I'm already gone", "imminent", "goodbye"),
    ("so this is it. thanks for trying everyone. i love you all", "imminent", "goodbye"),
    ("took an od an hour ago", "imminent", "act_in_progress"),
    ("I'm sitting on the train tracks", "imminent", "act_in_progress"),
    ("I've swallowed the tablets and I feel dizzy", "imminent", "act_in_progress"),
]
HARD_POSITIVE_TEXTS = [text for text, _, _ in HARD_POSITIVES]


@pytest.mark.parametrize(("text", "level", "signal"), HARD_POSITIVES)
def test_hard_positive_is_detected_with_its_signal(text: str, level: str, signal: str) -> None:
    result = assess(text)
    assert result.level == level, result
    assert signal in result.signals, result


def test_negation_does_not_hide_passive_ideation() -> None:
    assert assess("I'm not going to kill myself").level == "none"
    assert assess("I don't want to be here anymore").level == "elevated"
    assert assess("I don't want to kill myself. I just want to sleep for a week.").level == "none"


# --- method detail (safe messaging: shown to others behind a warning) -------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I took all my antidepressants with vodka", True),
        ("I just took 30 tablets", True),
        ("How many paracetamol would it take to die?", True),
        ("my friend took 40 paracetamol last night and is in hospital", True),
        ("my cousin died by suicide, he jumped off a bridge 20 floors up", True),
        ("I want to die", False),
        ("I have the pills in front of me", False),
        ("I took two paracetamol for my headache", False),
        ("My uncle died by suicide when I was twelve", False),
        ("Interesting article about overdose deaths rising", False),
    ],
)
def test_method_detail(text: str, expected: bool) -> None:
    assert assess(text).method_detail is expected


# --- robustness ---------------------------------------------------------------------------


def test_assessment_is_frozen_and_serialisable() -> None:
    result = assess("I want to kill myself")
    assert isinstance(result, Assessment)
    with pytest.raises(AttributeError):
        result.level = "none"  # type: ignore[misc]
    data = result.to_dict()
    assert data == {
        "level": "imminent",
        "signals": list(result.signals),
        "method_detail": False,
    }
    assert json.loads(json.dumps(data)) == data


def test_deterministic() -> None:
    texts = [row["text"] for row in DEV]
    first = [assess(t) for t in texts]
    assert [assess(t) for t in reversed(texts)] == list(reversed(first))
    assert [assess(t) for t in texts] == first


@pytest.mark.parametrize("text", ["", " ", "\n", "\t\t", "\u200b\u200b", "...", "💛", "🙂🙂🙂"])
def test_empty_and_symbol_only_inputs_are_none(text: str) -> None:
    assert assess(text) == Assessment("none", (), False)


def test_long_input_is_fast_and_still_read() -> None:
    filler = "Today was long and I am tired but okay. " * 100
    long_calm = filler[:4000]
    long_risk = (filler + "I want to kill myself tonight.")[-4000:]
    assert len(long_calm) == len(long_risk) == 4000
    start = time.perf_counter()
    assert assess(long_calm).level == "none"
    assert assess(long_risk).level == "imminent"
    assert assess("a" * 4000).level == "none"
    assert assess("kill myself " * 400).level != "none"
    assert time.perf_counter() - start < 1.0


def test_emoji_and_zero_width_characters() -> None:
    assert assess("i want to d\u200bie 😭😭").level == "elevated"
    assert assess("k\u200dms \U0001f62d").level == "elevated"
    assert assess("going to ki\u00adll my\ufeffself").level == "imminent"
    assert assess("Sending love to everyone struggling this week 💛").level == "none"
    assert assess("that joke killed 💀💀").level == "none"


def test_normalise() -> None:
    assert normalise("I\u2019M   GOING to k1ll mys3lf") == "i am going to kill myself"
    assert normalise("i w\u200bant 2 dieeeee") == "i want to die"
    assert normalise("can't won't I'd") == "can not will not i would"
    assert normalise("sewerslide, sucidal, selfharm, unalive myself") == (
        "suicide, suicidal, self harm, kill myself"
    )
    assert normalise("\uff2b\uff2d\uff33") == "kill myself"  # full-width letters (NFKC)


# --- command line -------------------------------------------------------------------------


def test_run_assess_prints_one_json_object_per_line() -> None:
    stdin = io.StringIO("this meeting killed me\ni want to die\n\nI'm going to kill myself\r\n")
    stdout = io.StringIO()
    assert run_assess(stdin, stdout) == 0
    lines = stdout.getvalue().splitlines()
    assert len(lines) == 4
    rows = [json.loads(line) for line in lines]
    assert [r["level"] for r in rows] == ["none", "elevated", "none", "imminent"]
    assert rows[1]["signals"] == ["passive_ideation"]
    assert all(set(r) == {"level", "signals", "method_detail"} for r in rows)
    assert "intent" in rows[3]["signals"]


def test_my_self_harm_is_not_read_as_myself_harm() -> None:
    """ "my self" is often "myself" misspelt, but never before "harm": "my self-harm urges"
    must stay self-harm, for the risk check and for the content-warning suggestion."""
    from safespace.reading.categories import detect_topics

    text = "My self-harm urges are really strong tonight."
    assert assess(text).level == "elevated"
    assert "self_harm_urge" in assess(text).signals
    assert detect_topics(text) == ["self-harm"]
    assert normalise("I hate my self") == "i hate myself"
