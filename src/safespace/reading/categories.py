"""Content-warning categories, and the local check that suggests one before sending.

The check reads words, like the risk assessor (and with its normalisation: slang,
misspellings, "self-harm" and "self harm" alike). It only ever suggests: the author
decides, except where a group has made a warning required for a topic.
"""

from __future__ import annotations

import re

from safespace.safety.assess import prepare
from safespace.safety.prefilter import LiteralIndex, Prepared, required_literals

CATEGORIES: dict[str, str] = {
    "suicide": "Suicide",
    "self-harm": "Self-harm",
    "eating-disorders": "Eating disorders",
    "abuse": "Abuse",
    "sexual-violence": "Sexual violence",
    "substance-use": "Substance use",
    "death-grief": "Death and grief",
    "violence": "Violence",
    "medical": "Medical",
}
METHOD_DETAIL = "method-detail"  # off-limits only: methods described in detail
MAX_NOTE = 100

_SELF = r"(?:myself|himself|herself|themselves|themself|yourself)"
_TOPICS: dict[str, re.Pattern[str]] = {
    name: re.compile(pattern)
    for name, pattern in {
        "suicide": (
            r"\bsuicid\w*|\bkill(?:ed|ing|s)? "
            + _SELF
            + r"|\b(?:end|ended|ending|take|took|taken|taking)"
            r" (?:my|his|her|their|your) (?:own )?li(?:fe|ves)\b|\boverdos\w*|\bwant(?:ed)? to die\b"
            r"|\b(?:hang|hanged|hanging) "
            + _SELF
            + r"|\bjump(?:ed|ing)? (?:off|from|in front of)\b"
            r"|\b(?:attempted|an attempt on (?:my|his|her) life)\b"
        ),
        "self-harm": (
            r"\bself harm\w*|\bself injur\w*|\b(?:cut|cutting|burn\w*|hurt\w*|harm\w*|hit\w*) "
            + _SELF
            + r"|\b(?:my|the|fresh|old) (?:cuts|scars)\b|\bblades?\b|\brazors?\b|\bcutting again\b"
        ),
        "eating-disorders": (
            r"\banorexi\w*|\bbulimi\w*|\bbing(?:e|eing|ed)\b|\bpurg(?:e|ed|ing)\b|\blaxatives?\b"
            r"|\bcalories\b|\beating disorders?\b|\bstarv(?:e|ed|ing) "
            + _SELF
            + r"|\brestrict(?:ing|ed)? (?:food|calories|my eating)?|\bthrow(?:ing)? up after\b|\bbmi\b"
            r"|\bweigh(?:ed|ing)? myself\b|\bmeal plan\b|\bed recovery\b"
        ),
        "abuse": (
            r"\babus(?:e|ed|er|ers|ive|ing)\b|\bgroom(?:ed|ing)\b|\bdomestic violence\b"
            r"|\bcoercive control\b|\b(?:hit|hits|beat|beats|kicked|choked|strangled) me\b|\bgaslight\w*"
        ),
        "sexual-violence": (
            r"\brap(?:e|ed|es|ing|ist)\b|\bsexual(?:ly)? (?:assault\w*|abus\w*|violence)\b|\bmolest\w*"
            r"|\bassaulted me\b|\btouched me\b|\bwithout (?:my )?consent\b"
        ),
        "substance-use": (
            r"\bdrunk\b|\bdrinking\b|\balcohol\w*|\brelaps(?:e|ed|ing)\b|\busing again\b|\bheroin\b"
            r"|\bcocaine\b|\bcoke\b|\bmeth\b|\bcrack\b|\bweed\b|\bgot high\b|\bsober\w*|\bwithdrawals?\b"
            r"|\bvodka\b|\bwhisk(?:e)?y\b|\bdrugs\b|\bpills?\b|\bdetox\b"
        ),
        "death-grief": (
            r"\b(?:died|dying|death|dead)\b|\bfuneral\w*|\bpassed away\b|\bpassed on\b|\bbereave\w*"
            r"|\bgrave\b|\bmiscarr\w*|\bstillb\w*|\bcremat\w*|\blost my (?:mum|mom|dad|mother|father"
            r"|son|daughter|baby|husband|wife|partner|brother|sister|friend|nan|gran)\b"
        ),
        "violence": (
            r"\bstab(?:bed|bing|s)?\b|\bshoot(?:ing)?\b|\bshot (?:him|her|them|at)\b|\bguns?\b"
            r"|\bmurder\w*|\battack(?:ed|ing)? (?:me|him|her|them)\b|\bbeat (?:him|her|them) up\b"
            r"|\bpunch(?:ed|ing)? (?:me|him|her|them)\b|\bkill (?:him|her|them|someone|you)\b|\bweapon\w*"
        ),
        "medical": (
            r"\bhospital\w*|\bsurgery\b|\boperation\b|\bdiagnos\w*|\bcancer\b|\bchemo\w*|\bterminal\b"
            r"|\bicu\b|\bbiops\w*|\btumou?r\b|\bseizures?\b|\bstroke\b|\bheart attack\b|\bscan results?\b"
            r"|\bintensive care\b|\bblood tests?\b|\ba ?(?:&|and) ?e\b|\bemergency room\b"
        ),
    }.items()
}


# Each topic's pattern runs only on a text holding one of the strings every match of it
# holds (the risk assessor's prefilter; it cannot change an answer).
_TOPIC_RULES = tuple(_TOPICS.items())
_LITERALS = [required_literals(pattern) for pattern in _TOPICS.values()]
_INDEX = LiteralIndex(_LITERALS)
_ALWAYS = sum(1 << i for i, literals in enumerate(_LITERALS) if literals is None)


def detect_topics(text: str, prepared: Prepared | None = None) -> list[str]:
    """The categories this text touches, in the order of CATEGORIES. Local, no I/O.

    `prepared`: `prepare(text)`, when the caller has it already."""
    prepared = prepare(text) if prepared is None else prepared
    norm = prepared.text
    mask = _INDEX.matching(norm) | _ALWAYS
    return [
        name
        for i, (name, pattern) in enumerate(_TOPIC_RULES)
        if mask >> i & 1 and pattern.search(norm)
    ]


def label(category: str) -> str:
    if category == METHOD_DETAIL:
        return "Methods described in detail"
    return CATEGORIES.get(category, category)


def labels(categories: list[str]) -> str:
    """ "self-harm, suicide" -> "self-harm and suicide" in words, for messages."""
    words = [label(c).lower() for c in categories]
    if len(words) <= 1:
        return "".join(words)
    # "suicide, death and grief": a label with "and" in it takes a comma, not another "and".
    last = ", " if " and " in words[-1] else " and "
    return ", ".join(words[:-1]) + last + words[-1]
