"""Local, explainable risk assessment of one chat message.

`assess(text)` returns an `Assessment`: a level (`none`, `elevated`, `imminent`), the names
of the signals that fired, and whether the message describes a method in detail (shown to
others only behind a warning, as safe-messaging practice asks).

Everything here is plain Python: regular expressions over a normalised copy of the text,
a few context checks, and a handful of rules that combine weak cues. No network, no model,
no data leaves the process. It is a screening aid for human facilitators, not a verdict:
it will miss some messages and flag some that are fine.

How a message is read
---------------------
1. `normalise()`: Unicode NFKC, zero-width and other invisible characters removed, curly
   quotes made straight, lower case, leetspeak inside words (k1ll -> kill), long letter
   runs shortened (dieeee -> die), contractions expanded (can't -> can not), and chat
   slang and misspellings rewritten to plain words (kms -> kill myself, sewerslide and
   suicdal -> suicide and suicidal, unalive myself -> kill myself, tmrw -> tomorrow).
2. Each pattern in `_SIGNAL_TABLE` is searched in the normalised text. A match counts
   unless its clause (the stretch between punctuation or "but") shows that it is:
   negated ("i am not going to kill myself", "i do not think i am suicidal"), in the past
   or about recovery ("i used to cut", "two years free from self harm"), about someone
   else ("my friend said she wants to die", "he is hopeless"), or inside a quotation
   ("the villain's line 'there is no hope'"). Negation is local: "i do not want to be
   here anymore" is a pattern of its own and stays passive ideation.
3. Weak cues (`_CUE_TABLE`: a time, an apology, a farewell, "i have decided", "got the
   pills", "i'm going to do it") give a signal only in combination (`_combine`), so
   "tonight's the night, first date" stays calm while "tonight's the night i finally do
   it. i'm sorry." does not. An ordinary reason for leaving ("see you next week", "early
   train", "wish me luck") cancels farewell-type combinations.
4. Fallbacks (`_FALLBACK_TABLE`) catch bare first-person acts ("kill myself lol") as
   elevated when nothing imminent fired.
5. The level is `imminent` if any imminent-class signal fired, else `elevated` if any
   elevated-class signal fired, else `none`.

`method_detail` is set when a message that is at risk, or that talks about suicide or an
overdose at all, names a method together with a specific detail (an amount, a named drug,
mixing with alcohol, depth, a height).

Speed: a pattern is tried only on a text holding one of the strings that every match of it
contains (`prefilter.required_literals`, read from the pattern's own parse tree), found for
all patterns at once in one pass (`prefilter.LiteralIndex`); so on an ordinary message few
patterns run at all. The rare pattern the tree says nothing useful about falls back to its
row's hand-written gate. Gates only skip work; tests check that they never change a result.

Limits: it reads words, not people. Implicit farewells and plans with no risk vocabulary
("i won't need them where i'm going"), sarcasm, and long posts that mix a past crisis
with a present one are its weak spots; a place alone ("i'm on the bridge") is not enough
for an alert. English only.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from safespace.safety.prefilter import LiteralIndex, Prepared, required_literals

Level = Literal["none", "elevated", "imminent"]

# Signals, in the order they are reported.
IMMINENT_SIGNALS: tuple[str, ...] = (
    "intent",  # says they are going to end their life or seriously harm themselves
    "plan",  # a plan, a note, a chosen day or place, researching how
    "means",  # has the means to hand (pills saved up, a rope, a blade)
    "timing",  # a time is set ("tonight", "i'll be gone by morning")
    "goodbye",  # a farewell that sounds final
    "act_in_progress",  # has taken something, is bleeding, is at the edge
)
ELEVATED_SIGNALS: tuple[str, ...] = (
    "passive_ideation",  # wishes to be dead, not to wake up, thoughts of suicide
    "self_harm_urge",  # urges to self-harm
    "recent_self_harm",  # has self-harmed recently
    "hopelessness",  # no way out, no point, can't go on
    "burden",  # feels a burden, others better off without them
)
SIGNAL_ORDER: tuple[str, ...] = IMMINENT_SIGNALS + ELEVATED_SIGNALS
_RANK = {name: i for i, name in enumerate(SIGNAL_ORDER)}
_IMMINENT = frozenset(IMMINENT_SIGNALS)
_ELEVATED = frozenset(ELEVATED_SIGNALS)


@dataclass(frozen=True, slots=True)
class Assessment:
    level: Level
    signals: tuple[str, ...] = ()
    method_detail: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "level": self.level,
            "signals": list(self.signals),
            "method_detail": self.method_detail,
        }


NONE = Assessment("none")

# ---------------------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------------------

# Invisible characters people (or keyboards) put inside words: zero-width space/joiners,
# soft hyphen, word joiner, bidi controls, variation selectors, BOM, Hangul fillers.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f"
    "\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0]"
)
_PUNCT_TABLE = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u02bc": "'",
        "`": "'",
        "\u00b4": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2014": " - ",
        "\u2013": " - ",
        "\u2010": "-",
        "\u2011": "-",
        "\u2026": ".",
    }
)
# Leetspeak, only between two letters, so "988", "2am" and "5-4-3-2-1" stay as they are.
_LEET = re.compile(r"(?<=[a-z])[013457@$](?=[a-z])")
_LEET_MAP = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
_REPEATS = re.compile(r"([a-z])\1{2,}")  # "sooooo" -> "soo", "dieeee" -> "diee"
_OD_PAST = re.compile(r"\bo\.?d(?:'d|'ed|-ed|ed|'?ing)\b")  # od'd, oded, od-ing
# Contractions and apostrophes (only tried when the text has an apostrophe).
_APOSTROPHES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), r)
    for p, r in (
        (r"\bi'ma\b", "i am going to"),
        (r"\bcan't\b", "can not"),
        (r"\bwon't\b", "will not"),
        (r"\bshan't\b", "shall not"),
        (r"\bain't\b", "is not"),
        (r"n't\b", " not"),
        (r"'m\b", " am"),
        (r"'re\b", " are"),
        (r"'ve\b", " have"),
        (r"'ll\b", " will"),
        (
            r"'d (?=(?:never |not |already |just )?(?:been|had|gone|done|known|thought|seen|given|taken"
            r"|made|got|felt|wanted|tried|left|died|written)\b)",
            " had ",
        ),
        (r"'d\b", " would"),
        (
            r"\b(it|that|there|what|he|she|who|where|here|everything|nothing|life|this"
            r"|today|tonight|tomorrow|no one|nobody|everyone|one|how|let)'s\b",
            r"\1 is",
        ),
        (r"'s\b", "s"),  # possessive: "dad's pills" -> "dads pills"
        (r"(?<=[a-z])'(?=[a-z])", ""),  # any other apostrophe inside a word
    )
)
_HYPHEN = re.compile(r"(?<=[a-z])-(?=[a-z])")  # "self-harm" -> "self harm"
_SLASHES = ((re.compile(r"\bs ?/ ?h\b"), "self harm"), (re.compile(r"\bw/"), "with "))
# Chat spellings and slang, one word for one or more words.
_WORDS = {
    "im": "i am",
    "iam": "i am",
    "ive": "i have",
    "ima": "i am going to",
    "imma": "i am going to",
    "gonna": "going to",
    "gunna": "going to",
    "gona": "going to",
    "wanna": "want to",
    "wana": "want to",
    "wnt": "want",
    "gotta": "got to",
    "tryna": "trying to",
    "kinda": "kind of",
    "dont": "do not",
    "cant": "can not",
    "cannot": "can not",
    "wont": "will not",
    "didnt": "did not",
    "doesnt": "does not",
    "isnt": "is not",
    "wasnt": "was not",
    "arent": "are not",
    "werent": "were not",
    "havent": "have not",
    "hasnt": "has not",
    "hadnt": "had not",
    "wouldnt": "would not",
    "couldnt": "could not",
    "shouldnt": "should not",
    "aint": "is not",
    "thats": "that is",
    "theres": "there is",
    "whats": "what is",
    "its": "it is",
    "youre": "you are",
    "theyre": "they are",
    "shes": "she is",
    "u": "you",
    "ur": "your",
    "r": "are",
    "b": "be",
    "n": "and",
    "nd": "and",
    "rn": "right now",
    "atm": "right now",
    "tmrw": "tomorrow",
    "tmr": "tomorrow",
    "tmrow": "tomorrow",
    "tmoz": "tomorrow",
    "tomoz": "tomorrow",
    "2moro": "tomorrow",
    "2morrow": "tomorrow",
    "tomorow": "tomorrow",
    "tonite": "tonight",
    "2nite": "tonight",
    "2night": "tonight",
    "2day": "today",
    "abt": "about",
    "bout": "about",
    "bc": "because",
    "bcs": "because",
    "cuz": "because",
    "coz": "because",
    "cos": "because",
    "every1": "everyone",
    "evry1": "everyone",
    "no1": "no one",
    "noone": "no one",
    "some1": "someone",
    "any1": "anyone",
    "sry": "sorry",
    "srry": "sorry",
    "soz": "sorry",
    "pls": "please",
    "plz": "please",
    "ppl": "people",
    "idk": "i do not know",
    "idc": "i do not care",
    "ngl": "honestly",
    "tbh": "honestly",
    "tbf": "honestly",
    "wud": "would",
    "wld": "would",
    "cud": "could",
    "shud": "should",
    "anymore": "anymore",
    "cya": "see you",
    "ttyl": "talk to you later",
    "brb": "be right back",
    "gn": "goodnight",
    "kms": "kill myself",
    "kmss": "kill myself",
    "kil": "kill",
    "kll": "kill",
    "kiil": "kill",
    "myslf": "myself",
    "mysef": "myself",
    "meself": "myself",
    "od": "overdose",
    "sh": "self harm",
    "selfharm": "self harm",
    "selfharming": "self harming",
    "selfharmed": "self harmed",
    "sewerslide": "suicide",
    "burdan": "burden",
    "burdon": "burden",
    "burdern": "burden",
    "hopeles": "hopeless",
    "pils": "pills",
    "diee": "die",
    "til": "until",
}
_WORD_RE = re.compile(r"\b(?:" + "|".join(sorted(map(re.escape, _WORDS), key=len)[::-1]) + r")\b")
# Every key is all word characters, so _WORD_RE can only match a whole \w+ run.
_TOKENS = re.compile(r"\w+")
# Phrases, each tried only when the text holds its gate (a plain substring).
_PHRASES: tuple[tuple[str, re.Pattern[str], str], ...] = tuple(
    (gate, re.compile(p), r)
    for gate, p, r in (
        ("anti", r"\banti depressant", "antidepressant"),
        ("self", r"\bmy self\b(?! (?:harm|injur))", "myself"),
        ("sewer", r"\bsewer ?slide\b", "suicide"),
        ("sewer", r"\bsewer ?slidal\b", "suicidal"),
        ("unaliv", r"\bunaliv(?:e|ing) (?:myself|me)\b", "kill myself"),
        ("unaliv", r"\bunalive[ds]?\b", "die"),
        (" 2", r"\b(want|going|need|have|ready|about|got|decided) 2\b", r"\1 to"),
        ("di", r"\bdi+e+\b", "die"),
        ("any more", r"\bany more\b", "anymore"),
        ("no more", r"\b(here|alive|living|this|it|go on|do this|live) no more\b", r"\1 anymore"),
        ("good", r"\bgood ?bye\b", "goodbye"),
        ("s the", r"\b(tonight|today|tomorrow)s the\b", r"\1 is the"),
        ("id ", r"\bid (be|rather|love|like|never|just|have|prefer|want)\b", r"i would \1"),
        ("good", r"\bgood ?night\b", "goodnight"),
        # suicide, suicidal and their common misspellings (sucidal, suicdal, suiside)
        ("d", r"\bsu?[iu]?[cs]{1,2}[iy]?d(e|es|al|ally|ality)\b", r"suicid\1"),
    )
)
_SPACES = re.compile(r"[ \t\r\f\v]+")


def normalise(text: str) -> str:
    """The form every pattern below is written against (see the module docstring)."""
    s = text
    if not s.isascii():  # NFKC, invisible characters and curly quotes are all non-ASCII
        s = unicodedata.normalize("NFKC", s)
        s = _INVISIBLE.sub("", s).translate(_PUNCT_TABLE)
    s = _LEET.sub(lambda m: _LEET_MAP[m.group(0)], s.lower())
    s = _REPEATS.sub(r"\1\1", s)
    if "od" in s:
        s = _OD_PAST.sub("overdosed", s)
    if "'" in s:
        for pattern, repl in _APOSTROPHES:
            s = pattern.sub(repl, s)
    if "-" in s:
        s = _HYPHEN.sub(" ", s)
    if "/" in s:
        for pattern, repl in _SLASHES:
            s = pattern.sub(repl, s)
    if not _WORDS.keys().isdisjoint(_TOKENS.findall(s)):  # most messages hold none
        s = _WORD_RE.sub(lambda m: _WORDS[m.group(0)], s)
    for gate, pattern, repl in _PHRASES:
        if gate in s:
            s = pattern.sub(repl, s)
    return _SPACES.sub(" ", s).strip()


# ---------------------------------------------------------------------------------------
# Shared fragments (all patterns run on normalised text: lower case, contractions
# expanded, "kms" already "kill myself", "sewerslide" already "suicide")
# ---------------------------------------------------------------------------------------

# Adverbs that may sit between a modal and its verb: "going to finally end it".
_ADV = (
    r"(?:(?:just|finally|really|actually|definitely|literally|seriously|honestly|probably"
    r"|truly|totally|so|gonna|going to|try and|try to|go and|go|quietly|simply) )"
)
# Future, intention or wanting: what turns an act into intent.
_FUTURE = (
    r"(?:going to|about to|ready to|decided to|planning to|plan to|intend to|want to|need to"
    r"|have to|got to|i will|i shall|i am|i would like to|tonight i|today i|i finally|time to)"
)
_PILLS = (
    r"(?:pills?|tablets?|meds|medication|medicine|painkillers?|antidepressants?|sleeping pills?"
    r"|paracetamol|prescriptions?|insulin|tabs|capsules|caps|sertraline|fluoxetine|citalopram|escitalopram"
    r"|lithium|ibuprofen|codeine|tramadol|amitriptyline|diazepam|zopiclone|oxycodone|morphine|tylenol"
    r"|acetaminophen|aspirin|quetiapine|venlafaxine|mirtazapine|propranolol|pregabalin|gabapentin)"
)
# Ways of ending one's life, base and -ing forms (no detail beyond the words people use).
_METHOD_ACT = (
    r"(?:hang(?:ing)? myself|shoot(?:ing)? myself|(?:gas|drown|stab|poison|starve|suffocate)(?:ing)? myself"
    r"|(?:slit|cut)(?:ting)? my (?:wrists?|throat)|set(?:ting)? myself on fire"
    r"|(?:jump(?:ing)?|throw(?:ing)? myself) (?:off|from|in front of|under) (?:a|the|my|this|that) \w+"
    r"|step(?:ping)? (?:out )?in front of (?:a|the) \w+|walk(?:ing)? (?:into|in front of) (?:traffic|the sea|a \w+|the \w+)"
    r"|driv(?:e|ing) (?:my car )?(?:into|off) (?:a|the) \w+|crash(?:ing)? my car|drink(?:ing)? myself to death"
    r"|swerv(?:e|ing) (?:my car )?into (?:oncoming )?(?:traffic|a \w+|the \w+))"
)
# "killing myself at the gym" is a figure of speech.
_KILL_MYSELF = (
    r"(?:kill myself|killing myself(?! (?:at|over|trying|doing|working|studying|for|lately"
    r"|with (?:work|revision))))"
)
_SELF_ACT = (
    rf"(?:{_KILL_MYSELF}|end(?:ing)? (?:my (?:own )?life|it all|my existence|everything)"
    r"|tak(?:e|ing) my (?:own )?life|commit(?:ting)? suicide|do(?:ing)? suicide|overdos(?:e|ing)"
    rf"|suicide|{_METHOD_ACT})"
)
# "end it" / "end this", not about a relationship, a lease or a call.
_END_IT = (
    r"(?:end(?:ing)? (?:it|things)\b(?! (?:with|for|off|between|early|here|there|up))"
    r"|end(?:ing)? this(?= *(?:$|[.,;!?]|now|tonight|today|once|for good|forever)))"
)
# Cutting, but not hair, costs or corners (strict: for intent and recent acts).
_CUT = (
    r"cut(?:ting)?(?= *(?:$|[.,;!?]|myself|tonight|today|again|deep|deeper|so\b|really|badly"
    r"|bad\b|right now|and\b|because|my (?:arms?|wrists?|legs?|thighs?|skin|body|stomach)))"
)
# After "urge to" or "thinking about", "cut" means self-harm unless it has another object.
_CUT_LOOSE = (
    r"cut(?:ting)?\b(?! (?:my (?:hair|fringe|nails|losses|hours|spending)|back|down|out|off|up"
    r"|the\b|a\b|it\b|ties|costs|corners|carbs|sugar|class|school|him|her|them|people|someone"
    r"|loose|in\b|across|through))"
)
_SH = r"(?:self harm(?:ing)?|hurt(?:ing)? myself|harm(?:ing)? myself|burn(?:ing)? myself)"
_SH_ACT = rf"(?:{_CUT}|{_SH})"
_SH_LOOSE = rf"(?:{_CUT_LOOSE}|{_SH})"
# A lot of pills (or "everything in the cabinet"), but not "all my tablets for the week".
_AMOUNT = (
    r"(?:(?:like|about|around|maybe|over|nearly|almost|at least) )?(?:all|all of|every|the whole"
    r"|a whole|whole|too many|loads of|lots of|a handful of|a bunch of|a load of|a lot of|\d{2,}"
    r"|twenty|thirty|forty|fifty|sixty|a hundred|hundreds of)"
)
_OD_OBJECT = (
    rf"(?:{_AMOUNT} (?:of )?(?:my |the |those |these |his |her |\w+ )?(?:\w+ ){{0,2}}"
    rf"(?:{_PILLS}|bottle|box|packet|pack|strip|them)\b|everything in (?:the|my) (?:medicine |first aid )?(?:cabinet|cupboard|drawer|box|bag|bathroom)"
    r"|everything (?:i had|i have|i could find|in the house)"
    r"|the lot|all of (?:them|it))"
    r"(?! (?:for (?:the|this|my|a) \w+|out|back|to (?:the|count|sort|organi[sz]e|check)|with me|on holiday|in (?:the|my) (?:bag|organiser|organizer)))"
)
_TIME = (
    r"(?:tonight|today|tomorrow|right now|this (?:weekend|week|evening|afternoon|morning)"
    r"|(?:on )?(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)s?"
    r"|midnight|by morning|in the morning|next week|(?:the )?new year|before my birthday"
    r"|(?:the )?\d{1,2}(?:st|nd|rd|th)\b(?! (?:floor|storey|place|time|birthday|anniversary|grade|century|week|day))"
    r"|in (?:an|a few|\d+|one|two) hours?"
    r"|(?:after|once|when) (?:the kids|everyone|my (?:parents|partner|husband|wife|family|mum|mom|dad))"
    r" (?:are|is|leave|leaves|go|goes|have gone|fall|fell)(?: \w+){0,3})"
)


def _r(needs: str, pattern: str, note: str) -> tuple[str, str, str]:
    """One table row: words that must appear for the pattern to be tried, the pattern, a note.

    `needs` is a speed gate, not part of the meaning: space-separated substrings, any one
    of which must occur in the normalised text ("" = always try). It is used only for a
    pattern whose parse tree gives no literal prefilter (see `prefilter`); tests check that
    gates never change a result.
    """
    return needs, pattern, note


# ---------------------------------------------------------------------------------------
# Strong patterns: a match (in context) gives the signal.
# ---------------------------------------------------------------------------------------

_SIGNAL_TABLE: dict[str, tuple[tuple[str, str, str], ...]] = {
    "intent": (
        _r(
            "kill end life suicid overdos hang shoot gas drown stab poison starve suffocate slit cut fire jump throw step walk driv crash drink",
            rf"\b{_FUTURE} {_ADV}{{0,2}}{_SELF_ACT}\b(?! laughing)",
            "going to / want to kill myself, end my life, jump off ...",
        ),
        _r("end", rf"\b{_FUTURE} {_ADV}{{0,2}}{_END_IT}", "going to end it (not: end it with him)"),
        _r(
            "take swallow down neck overdos",
            rf"\b{_FUTURE} {_ADV}{{0,2}}(?:take|swallow|down|neck|overdose on) {_OD_OBJECT}",
            "going to take all my pills",
        ),
        _r(
            "cut harm hurt burn",
            rf"\b(?:going to|about to|i will|i am) {_ADV}{{0,2}}{_SH_ACT}",
            "going to cut tonight",
        ),
        _r(
            "use",
            rf"\b{_FUTURE} {_ADV}{{0,2}}use (?:it|them|this|that|the \w+|a \w+|my \w+) on myself\b",
            "going to use it on myself",
        ),
        _r(
            "safe",
            r"\b(?:can not|unable to|do not think i can|not sure i can|do not know if i can|do not know how to"
            r"|struggling to|can not promise (?:that )?(?:i will|i can|to|i am going to)|can not guarantee (?:that )?(?:i will|i can))"
            r" (?:keep myself|stay|be|remain|keep|going to be) safe\b"
            r"|\bnot safe (?:with|around|from) myself\b|\bdo not (?:feel|think i am) safe (?:with|around|alone with) myself\b",
            "can't keep myself safe",
        ),
        _r(
            "trust",
            r"\bdo not trust myself (?:tonight|right now|alone|to be alone|to stay safe|around)\b",
            "don't trust myself tonight",
        ),
        _r(
            "wake",
            r"\bmake sure i (?:do not|never|will not) wake up\b",
            "make sure I don't wake up",
        ),
        _r("ready", r"\bready to die\b(?! on)", "ready to die"),
        _r(
            "when day night",
            r"\b(?:that is|this is|is) (?:when|the (?:day|night)) i (?:finally )?(?:end it|end this|end everything|kill myself|die)\b",
            "that's when I end it",
        ),
    ),
    "plan": (
        _r(
            "plan",
            r"\bi (?:have|have got|got|made|have made|worked out) (?:a|the|my) (?:suicide )?plan"
            r"(?= *(?:$|[.,;!?]|and\b|to (?:kill|end|die|do it|take|overdose)|for (?:how|when|where|it)))",
            "I have a plan (not: a plan for the weekend)",
        ),
        _r(
            "high enough",
            r"\bfound (?:a|the) (?:\w+ )?(?:spot|place|building|bridge|cliff|drop|roof) (?:that is )?high enough\b|\bfound a high enough\b",
            "found a high enough spot",
        ),
        _r(
            "how much how many",
            r"\bi know (?:exactly )?how (?:many|much) (?:it would take|i would need|it takes|i need|would do it)\b",
            "I know how many it would take",
        ),
        _r(
            "overdos hang jump kill shoot",
            rf"(?:^|[.!?] )(?:{_SELF_ACT}) (?:when|after|once|tonight|tomorrow|this (?:weekend|evening)|at \d)\b",
            "overdosing when my shift ends",
        ),
        _r("plan", r"\b(?:my|a) suicide plan\b", "suicide plan"),
        _r(
            "plan",
            rf"\bplan(?:ning|ned)? (?:my (?:suicide|death|exit)|to {_SELF_ACT}|how to {_SELF_ACT})",
            "planning my suicide",
        ),
        _r(
            "out decided chosen chose know",
            rf"\b(?:worked out|figured out|working out|figuring out|decided|chosen|chose|know exactly|know) (?:how|when|where) (?:i am going to|i will|to|i would|i could|i can|i am gonna) (?:{_SELF_ACT}|do it|{_END_IT}|die)",
            "worked out how / know where I'm going to do it",
        ),
        _r(
            "note letter",
            r"\b(?:my|a) suicide note\b|\bmy (?:goodbye|farewell|last|final) (?:letters?|notes?)\b"
            r"|\b(?:written|wrote|writing|finished|left|write) (?:a|the) (?:goodbye|farewell|last) (?:letters?|notes?)\b"
            r"|\b(?:written|wrote|writing|left) (?:notes|letters) (?:for|to) (?:everyone|everybody|my family|all of you|each)",
            "wrote my suicide note",
        ),
        _r(
            "look research googl search",
            rf"\b(?:looked up|look up|looking up|researched|researching|googled|googling|searched|searching) (?:how to (?:do it|{_SELF_ACT}|die)|ways to (?:die|{_SELF_ACT})|methods|how (?:many|much) \w+)",
            "researching how",
        ),
        _r(
            "how lethal",
            rf"\bhow (?:many|much) (?:\w+ ){{0,3}}(?:would it take to|to) (?:die|{_SELF_ACT}|not wake up)|\blethal dose\b"
            r"|\bhow (?:many|much) (?:\w+ ){0,3}(?:is|would be) (?:lethal|fatal|deadly)",
            "how many would it take",
        ),
        _r(
            "picked chosen chose set choosing picking decided",
            r"\b(?:picked|chosen|chose|set|choosing|picking|decided on) (?:a|the) (?:day|date|spot|place|time|method)\b",
            "picked a day",
        ),
    ),
    "means": (
        _r(
            "sav stockpil hoard collect stash stor",
            rf"\b(?:saving|saved|stockpil\w*|hoard\w*|collect(?:ed|ing)|stash\w*|storing|stored) (?:up )?(?:all )?(?:my |the |these |some |enough (?:of (?:my|the) )?)?(?:\w+ )?{_PILLS}\b(?! (?:box|organi[sz]er|receipts?|dispenser|packaging|bottles))"
            rf"|\b{_PILLS} (?:saved|stockpiled|hoarded|stashed|collected)\b|\ba (?:stash|stockpile|hoard) of {_PILLS}",
            "stockpiling pills",
        ),
        _r("enough", rf"\benough {_PILLS} (?:to|now|right now|here)\b", "enough tablets to"),
        _r(
            "chemist pharmac shop",
            rf"\b(?:different|several|\d+|two|three|four) (?:chemists|pharmacies|shops|stores|supermarkets)\b.{{0,60}}\b(?:{_PILLS}|how many)\b",
            "buying pills from several chemists",
        ),
        _r(
            "front lined counted laid hand next beside with ready",
            rf"\b(?:{_PILLS}|blade|razor|knife|rope|gun|noose) (?:are |is )?(?:all )?(?:in front of me|lined up|counted out|laid out|in my hand|next to me|beside me|ready)\b(?! (?:for (?:the|my|tomorrow|work|school|the morning)))",
            "pills in front of me",
        ),
        _r(
            "to my against",
            r"\b(?:knife|blade|razor|gun|scissors|glass) (?:to|against|at|on) my (?:wrists?|arms?|throat|head|neck|skin|temple)\b",
            "a knife to my wrist",
        ),
        _r("hand", r"\b(?:blade|razor|knife)(?:s| is)? in my hand\b", "a blade in my hand"),
        _r(
            "gun pistol rifle firearm",
            r"\b(?:gun|pistol|rifle|firearm|shotgun)\b.{0,80}?\b(?:on myself|at myself|to my head|shoot myself)\b",
            "a gun, on myself",
        ),
        _r(
            "need",
            rf"\b(?:everything|all) i need to (?:{_SELF_ACT}|do it|{_END_IT}|die)",
            "everything I need to end it",
        ),
    ),
    "timing": (
        _r(
            "gone dead",
            r"\b(?:i will|i am going to|going to|i would) be (?:gone|dead) (?:by|before) \w+",
            "I'll be gone by morning",
        ),
        _r(
            "here around alive",
            r"\b(?:not|never) (?:going to )?be (?:here|around|alive) (?:after|past) (?:tonight|today|this|tomorrow|the weekend)\b"
            r"|\b(?:not|never) (?:going to )?be alive (?:by|tomorrow|this time|next week|for (?:the )?(?:weekend|new year|christmas))",
            "not going to be here after tonight",
        ),
        _r(
            "make it",
            r"\b(?:will not|not going to|never going to|do not think i will|i am not going to) make it (?:to|through|past|until|till) (?:the |next |my )?"
            r"(?:new year|christmas|morning|tomorrow|tonight|today|night|day|week|weekend|end of the (?:week|month|year)|birthday|next (?:week|month|year)|\w+day)\b",
            "won't make it to the new year",
        ),
        _r("it for me", r"\b(?:that is|this is) it for me\b", "that's it for me"),
        _r(
            "promise",
            r"\b(?:can not|will not|do not) promise (?:that )?i will (?:still )?be (?:here|around|alive|safe)\b",
            "can't promise I'll still be here",
        ),
        _r(
            "the end last",
            r"\b(?:tonight|today|tomorrow|this|it) is (?:the end|my last (?:night|day)|the last (?:night|day))\b(?! (?:of|in|at|here|before|with|on))",
            "tonight is the end",
        ),
        _r(
            "for me",
            r"\bthere (?:will not|is not going to|will never) be (?:a|any) (?:next week|tomorrow|next year|next time|next month) for me\b",
            "no next week for me",
        ),
        _r(
            "able to after",
            r"\b(?:will not|would not|am not going to) be able to (?:\w+ ){0,3}?after (?:tonight|today|tomorrow|this weekend|this week)\b",
            "won't be able to after tonight",
        ),
        _r(
            "problem burden bother",
            r"\bnot (?:going to )?be a (?:problem|burden|bother) (?:for|to) (?:anyone|anybody|you|everyone|them) (?:anymore )?(?:after|past|from)(?: (?:tonight|today|tomorrow|this weekend|now)\b|(?= *(?:$|[.,;!?])))",
            "won't be a problem for anyone after tonight",
        ),
        _r(
            "matter after",
            r"\b(?:it |none of (?:it|this) )?(?:does not|will not) matter (?:anymore )?after (?:\w+day|tonight|tomorrow|this week|this weekend)\b",
            "it doesn't matter after friday",
        ),
        _r(
            "last final",
            r"\b(?:last|final) (?:night|day|week) (?:of my life|alive|on earth)\b",
            "last night alive",
        ),
    ),
    "goodbye": (
        _r("goodbye farewell", r"\bthis is (?:my )?(?:goodbye|farewell)\b", "this is goodbye"),
        _r(
            "where i am going",
            r"\b(?:will not|would not|do not|am not going to|will not be) need(?:ing)? (?:them|it|this|that|these|those|either|any of (?:this|it|them)|my \w+|anything|money|clothes) (?:\w+ )?where i am going\b"
            r"|\bwhere i am going i (?:will not|do not|would not) need\b",
            "won't need them where I'm going",
        ),
        _r(
            "check on find",
            r"\bthere (?:will not|is not going to|will be nothing|will be no one) be (?:anything|anyone|anybody|nothing|no one) (?:left )?to (?:check on|find|save|come back to)\b"
            r"|\bthere (?:will be )?(?:nothing|no one) (?:left )?to (?:check on|save)\b",
            "there won't be anything to check on",
        ),
        _r(
            "or ever",
            r"\b(?:will not|not going to|am not going to) be (?:at|in|here|around|on)\b.{0,30}?\bor ever\b",
            "won't be at group next week, or ever",
        ),
        _r(
            "worked",
            r"\bif i do not (?:post|reply|answer|message|come back|log on|show up)\b[^.]{0,30}?\b(?:it is because it (?:finally )?worked|it (?:finally )?worked|you will know why)\b",
            "if I don't post, it worked",
        ),
        _r(
            "bye farewell",
            r"\b(?:goodbye|bye|farewell) (?:forever|for good|for ever|world|cruel world)\b",
            "goodbye forever",
        ),
        _r(
            "hear from me see me",
            r"\bthe last time you (?:will|would) (?:ever )?hear from me\b|\byou will (?:never|not) (?:hear from|see) me again\b",
            "last time you'll hear from me",
        ),
        _r(
            "around here alive",
            r"\b(?:will not|not going to|never going to|i am not going to) be (?:around|here|alive)(?: \w+)? (?:anymore|any longer|much longer|for much longer|for long)\b"
            r"|\bnot (?:be )?(?:here|around) (?:much|for much) longer\b",
            "I won't be around anymore",
        ),
        _r(
            "gone dead here around",
            r"\b(?:when|after|once) i am (?:gone|dead|no longer here|not here|not around|no longer around)\b(?! (?:on|for (?:a|the)|to))",
            "when I'm gone",
        ),
        _r(
            "reading this already",
            r"\bif you are reading this\b|\bi am already (?:gone|dead)\b|\bby the time (?:you|anyone) (?:read|reads|see|sees|get|gets) this\b",
            "if you're reading this",
        ),
        _r(
            "tell",
            r"\btell (?:my|them|everyone) (?:\w+ )?(?:that )?(?:i am sorry|i love|i loved|sorry|it was not (?:her|his|their|your|anyones) fault)",
            "tell my mum I'm sorry",
        ),
        _r(
            "goodbye",
            r"\b(?:saying|say|said) my (?:last |final )?goodbyes?\b(?! to (?:the|my|our))",
            "saying my goodbyes",
        ),
    ),
    "act_in_progress": (
        _r(
            "took taken swallowed downed necked had overdosed",
            rf"\b(?:took|taken|swallowed|downed|necked|had|overdosed on) {_OD_OBJECT}"
            rf"|\b(?:took|taken|swallowed|downed|necked) (?:\w+ ){{0,6}}?(?:a|the|half a|two|three|\d+) (?:packets?|packs?|box(?:es)?|bottles?|strips?|handful) of (?:\w+ )?{_PILLS}",
            "took all my pills",
        ),
        _r(
            "overdos",
            r"\b(?:took|taken|had|taking) an overdose\b|\bi (?:have |just )?overdosed\b(?! on (?:coffee|caffeine|sugar|chocolate))|\bi am overdosing\b",
            "took an overdose",
        ),
        _r(
            "drank drunk swallowed bleach antifreeze poison killer",
            r"\b(?:drank|drunk|swallowed|downed) (?:the |some |a bottle of |half the |the whole )?(?:bleach|antifreeze|poison|weed ?killer|drain cleaner|rat poison)\b",
            "drank the bleach",
        ),
        _r(
            "cut slit slash",
            r"\b(?:cut|slit|slashed|sliced) (?:myself )?(?:really |too |very |so )?(?:deep|deeply|too far)\b|\b(?:i|i have|just) (?:cut|slit|slashed) my (?:wrists?|throat)\b",
            "cut deep",
        ),
        _r(
            "blood bleed",
            r"\b(?:so much|a lot of|lots of|loads of) blood\b|\bbleeding (?:a lot|heavily|badly|so much|everywhere|out)\b"
            r"|\b(?:can not|will not|does not|is not|not) stop(?:ping)? (?:the |it )?bleeding\b|\bbleeding (?:and|but) (?:i )?can not stop\b"
            r"|\b(?:the |it )?bleeding (?:will not|does not|is not|can not|just will not) stop\b",
            "bleeding a lot",
        ),
        _r(
            "edge tracks railway ledge railing parapet wrong side",
            r"(?:\b(?:i am|am)|^|[.!?] ) *(?:outside |up |out |standing |sitting |stood |sat |lying |laying |climbing |leaning ){0,2}(?:on|at|by|over|onto) (?:the )?(?:edge of (?:the |a )?(?:cliff|bridge|roof|building|platform)"
            r"|train tracks|railway (?:tracks|line)|tracks|ledge|railing|parapet|wrong side of (?:the )?\w+)\b",
            "at the edge",
        ),
        _r(
            "top of",
            r"\b(?:i am|am) (?:standing |sitting |stood |sat |up |outside )?(?:at|on) the top of (?:the |a |this )?(?:multi ?storey|car park|tower|building|cliff|bridge|block of flats|flats)\b",
            "at the top of the car park",
        ),
        _r(
            "garage exhaust running",
            r"\bin the garage with the (?:engine|car) running\b|\b(?:engine|car|cars) (?:is )?running in (?:the|a|my) garage\b|\bhose (?:from|on|to) the exhaust\b",
            "engine running in the garage",
        ),
        _r(
            "step climb get",
            r"\bcan not make myself (?:step|go|climb|get) (?:back|down)\b",
            "can't make myself step back",
        ),
    ),
    "passive_ideation": (
        _r(
            "me instead been me taken me",
            r"\bwish (?:it|the \w+|that \w+|they|god|he|she|death) (?:had|would have|could have|took|had taken) (?:taken|killed|got|gotten|chosen )?me\b"
            r"|\b(?:should have|wish it had|wish it was|wish it were|why could it not have|why was it not|it should have) (?:been )?me(?: instead)?\b(?! (?:who|that) (?:won|got|went|passed))",
            "wish it had taken me instead",
        ),
        _r(
            "go be with join",
            r"\b(?:want|wish|long|ready|need) to (?:go (?:and )?be with|be with (?:her|him|them) again|join) (?:her|him|them|my (?:\w+ )?(?:mum|mom|dad|son|daughter|husband|wife|partner|brother|sister|baby|nan|gran|boy|girl))\b",
            "want to go and be with her",
        ),
        _r(
            "care",
            r"\b(?:do not|no longer) (?:really |even )?care (?:what happens to me|if i (?:live|die|wake up|make it)|whether i (?:live|die|wake up|make it))\b",
            "don't care what happens to me",
        ),
        _r(
            "happen",
            r"\bif (?:something|anything) (?:bad )?happen(?:ed|s) to me,? i (?:would not|will not|do not think i would) (?:fight|mind|care|be sad|try to stop)\b",
            "if something happened to me I wouldn't fight it",
        ),
        _r(
            "hit by run over",
            r"\b(?:easier|better|simpler|a relief|fine|okay) if i (?:just )?(?:got|get|was|were) (?:hit|run over|killed)\b"
            r"|\b(?:hope|hoping|wish|wishing) (?:that )?i (?:get|got) (?:hit|run over|killed)\b",
            "easier if I got hit by a bus",
        ),
        _r(
            "scan test result biopsy",
            r"\b(?:hoped|hope|hoping|wish|wished|wishing) (?:that )?(?:the|my) (?:scan|test|results?|biopsy|tests|bloods) (?:would be|was|were|would come back|came back|come back) (?:bad|positive|cancer|terminal)\b",
            "hoped the scan would be bad news",
        ),
        _r(
            "living thoughts",
            r"\bwhy bother (?:living|staying alive|being alive)\b|\b(?:the )?(?:dark|bad|suicidal) thoughts (?:are|have) (?:back|come back|returned)\b",
            "the dark thoughts are back",
        ),
        _r(
            "see myself",
            r"\b(?:do not|can not) see myself (?:making it|living|being (?:alive|here|around)|getting|lasting) (?:to|past|until|much longer|another|beyond|in (?:a|another|five|ten|\d+) (?:year|years|month|months))\b",
            "don't see myself making it to 30",
        ),
        _r(
            "see why",
            r"\b(?:do not|can not|no longer) see (?:why|how) i (?:should|would|could|can) (?:keep going|go on|carry on|keep living|stay alive|bother|be here)\b",
            "don't see why I should keep going",
        ),
        _r(
            "not waking",
            r"\b(?:would not|do not|would not really) mind (?:not|never) waking up\b",
            "wouldn't mind not waking up",
        ),
        _r(
            "thought about it",
            r"\b(?:bridge|tracks|edge|cliff|roof|motorway|railway)\b.{0,40}\bthought about (?:it|jumping|doing it|stepping)\b",
            "drove past the bridge and thought about it",
        ),
        _r(
            "die",
            r"\b(?:want|wants|wanting|have wanted|have been wanting|wish|wishing|would like|would love|just want|long|longing|hope|hoping|pray|praying) (?:i could |to |that i could |i would |i can |i could just |to just )?(?:just |simply )?die\b"
            r"(?! (?:of|from|laughing|happy|than|on|peacefully at|old))",
            "want to die",
        ),
        _r(
            "dead",
            r"\b(?:wish (?:i was|i were|i could be|to be)|want to be|rather be|better off|would be better) dead\b(?! than)",
            "wish I was dead",
        ),
        _r(
            "born exist woke alive here",
            r"\bwish (?:i (?:would|had|could have) )?never (?:been born|existed|woke up|woken up)\b"
            r"|\bwish(?:ing|ed)? i (?:had not|did not|had never|never) (?:woken|woke) up\b"
            r"|\bwish i (?:was not|were not|did not|was never|were never) (?:alive|exist|here|born|around)\b",
            "wish I'd never been born",
        ),
        _r(
            "want live",
            r"\b(?:do not|never) want to (?:be alive|live|exist|keep living|go on living|wake up|be here|do life|do this life)(?: \w+)? (?:anymore|any longer|on this earth|in this world|like this)\b"
            r"|\b(?:do not|never) want to (?:be alive|live|exist|keep living|wake up)\b|\bdo not want to be here(?= *(?:$|[.,;!?]|honestly|tbh))"
            r"|\b(?:do not think|not sure|not sure if|do not know if) i (?:want|wanna) to (?:be alive|live|exist|be here|keep living|keep going|wake up)\b",
            "don't want to be here anymore",
        ),
        _r("have to be here", r"\bdo not have to be here\b", "so I don't have to be here"),
        _r(
            "wake",
            r"\b(?:go to sleep|sleep|fall asleep|drift off) and (?:not|never) wake up\b"
            r"|\b(?:hope|wish|pray|praying|hoping) (?:that )?i (?:just )?(?:do not|never|will not|would not) wake up\b"
            r"|\b(?:would rather|rather|prefer to|would prefer to) (?:not|never) wake up\b"
            r"|\b(?:happy|glad|fine|okay|ok|relieved) (?:to|if i) (?:never|not|did not|do not) wake up\b",
            "not wake up",
        ),
        _r(
            "exist forever alive disappear vanish living",
            r"\b(?:stop existing|not exist|disappear forever|disappear for good|(?<!could )sleep forever|go to sleep forever|fall asleep forever"
            r"|cease to exist|not be alive|stop living|stop being alive)\b"
            r"|\b(?:want|wish|wishing|like) (?:i could |to )?(?:just )?(?:disappear|vanish)(?= *(?:$|[.,;!?]|forever|for good|and never|and not"
            r"|from (?:this|the) (?:world|earth|planet)|completely|off the face))",
            "stop existing, disappear forever",
        ),
        _r(
            "forever",
            r"\bwant to (?:just )?stop (?:feeling|being|thinking)(?: \w+)?(?: \w+)?,? forever\b",
            "stop feeling anything, forever",
        ),
        _r(
            "dying",
            r"\bfeel(?:ing)? like dying\b(?! (?:my|your|her|his|the|it|them)\b)",
            "feel like dying",
        ),
        _r(
            "funeral",
            r"\b(?:imagining|imagine|picturing|picture|thinking about|planning|plan) my (?:own )?funeral\b",
            "imagining my own funeral",
        ),
        _r(
            "waiting",
            r"\b(?:just )?waiting (?:to die|for (?:death|it all to end|the end|my life to end))\b",
            "waiting to die",
        ),
        _r(
            "die",
            r"\b(?:wish|hope|pray|praying|hoping) (?:that )?i (?:would |could |will )?(?:get|catch|have|develop) (?:\w+ ){1,2}and die\b",
            "wish I'd get ill and die",
        ),
        _r(
            "pain suffering",
            r"\bwant (?:to|it to|the pain to) (?:end|stop) (?:the |my |this |all the |all this )?(?:pain|suffering)(?= *(?:$|[.,;!?]|forever|for good|once and for all))",
            "want to end the pain",
        ),
        _r(
            "living alive life exist here waking",
            r"\b(?:tired of|sick of|done with|exhausted by|exhausted from|worn out from|weary of|over|hate|hate being) (?:living|being alive|life|existing|this life|it all|being here|waking up)\b(?! (?:admin|insurance|drama|early|at))",
            "tired of living",
        ),
        _r(
            "point reason worth live",
            r"\b(?:no|do not see the|can not see the|what is (?:even )?the|there is no|see no) (?:point|reason) (?:in|of|to) (?:living|being alive|life|existing|being here|going on|carrying on|staying alive|me being here|live|stay alive|keep going|carry on|go on|stay)\b"
            r"|\bnothing (?:left )?to live for\b|\b(?:life|living) (?:is not|is no longer|is not really|does not feel|does not seem) worth (?:living|it)\b|\bnot worth living\b",
            "no reason to live",
        ),
        _r(
            "alive going go on carry living trying live exist",
            r"\bwhy (?:am i|do i) (?:even )?(?:still )?(?:alive|here|exist|bother living)\b"
            r"|\bwhy (?:should|would|do|must) i (?:even )?(?:keep going|go on|carry on|keep living|keep trying|stay alive|live|be alive|exist)\b",
            "why am I still alive",
        ),
        _r(
            "still here alive",
            r"\b(?:do not know|not sure|wonder) why i am (?:even )?(?:still )?(?:here|alive)\b",
            "don't know why I'm still here",
        ),
        _r(
            "will to",
            r"\b(?:lost|losing|no|have no|without|lost all|there is no) (?:the |any |my )?will to (?:live|go on|keep going|carry on)\b",
            "lost the will to live",
        ),
        _r(
            "alive living",
            r"\b(?:being alive|living|existing|life) (?:just )?(?:hurts|is (?:too |so )?(?:painful|unbearable|torture|agony))(?: too much| so much)?\b",
            "being alive hurts too much",
        ),
        _r(
            "death",
            r"\bdeath (?:sounds|seems|feels|looks|would be) (?:\w+ )?(?:peaceful|good|nice|better|like a relief|like relief|easier|welcome|appealing)\b",
            "death sounds peaceful",
        ),
        _r(
            "alive existing dead here waking",
            r"\b(?:not being alive|not existing|being dead|not being here|not waking up) (?:sounds|seems|feels|would be)\b",
            "not being alive sounds",
        ),
        _r(
            "thought think fantasi dream",
            rf"\b(?:thoughts?|thinking|think|thought|fantasi[sz]ing|dreaming) (?:a lot )?(?:of|about) (?:is )?(?:ways to |how to |how i would |how i could |how i will )?(?:die|do it|suicide|{_SELF_ACT}|{_END_IT}|death(?! (?:and|of|in|penalty|metal|row|(?:a lot |so much )?(?:after|since) (?:losing|my|the|she|he|they|we)))|dying(?! (?:and|of|in))|being dead|not being here|not being alive|not waking up)",
            "thinking about suicide",
        ),
        _r("suicid", r"\bsuicid\w* (?:thoughts|ideation|feelings|urges)\b", "suicidal thoughts"),
        _r(
            "suicid",
            r"\bsuicidal\b(?! (?:depression|patients?|people|persons?|friends?|teens?|teenagers?|behaviou?r|crisis|clients?|callers?"
            r"|individuals?|young|men|women|kids|children|students?|risk|character|tendencies in))",
            "suicidal (who: checked by context)",
        ),
        _r(
            "if i",
            r"\b(?:easier|better|simpler|a relief) if i (?:just )?(?:was not|were not|was gone|were gone|was dead|were dead|did not exist|was not here|disappeared|died)\b",
            "easier if I wasn't here",
        ),
        _r(
            "hope hoping wish pray",
            r"\b(?:hope|hoping|hopes|wish|wishing|pray) (?:that )?(?:(?!not\b)\w+ ){0,5}(?:crash(?:es)?|hits? me|hit by|kills? me|runs? me over|happens? to me)\b(?! into)",
            "hope something happens to me",
        ),
        _r(
            "if i",
            r"\bif i (?:went to sleep and |fell asleep and |go to sleep and )?(?:died|was dead|were dead|did not wake up|never woke up|do not wake up|was gone|were gone) (?:\w+ ){0,8}?(?:mind|care|matter|be (?:fine|okay|ok|a relief|glad))\b"
            r"|\b(?:do not|would not|would not really|honestly do not) (?:really )?(?:care|mind) if i (?:die|died|did not wake up|never woke up|do not wake up|wake up|was dead|live or die|lived or died)\b",
            "if I died I wouldn't mind",
        ),
        _r(
            "if i",
            r"\b(?:would|will) (?:honestly |really |just )?(?:be (?:fine|okay|ok|relieved|happy|glad)|not (?:mind|care))"
            r" if i (?:died|did not wake up|never woke up|do not wake up|was dead|were dead|was gone|just died)\b",
            "I'd be fine if I didn't wake up",
        ),
        _r(
            "stop end",
            r"\bwant (?:it|this|everything) (?:all )?to (?:stop|end)(?= *(?:$|[.,;!?]|forever|for good|permanently))",
            "want it all to stop",
        ),
        _r(
            "exist here alive",
            r"\bwants? to (?:just )?not (?:exist|be here|be alive)\b",
            "wants to not exist",
        ),
    ),
    "self_harm_urge": (
        _r(
            "cut harm hurt burn",
            rf"\b(?:urges?|urged|craving|crave|cravings|tempted|temptation|want|wanted|wanting|need|needing|itching) (?:\w+ )?(?:to )?(?:{_SH_LOOSE})",
            "urge to cut",
        ),
        _r(
            "urge craving thoughts",
            r"\b(?:self harm|cutting|cut|sh) (?:urges?|cravings?|thoughts)\b",
            "self-harm urges",
        ),
        _r(
            "blade razor",
            r"\b(?:got|took|get|getting) (?:the|my) (?:blades?|razors?) out\b",
            "got the blades out",
        ),
        _r(
            "cut harm hurt burn",
            rf"\b(?:thinking|think|thought|thoughts) (?:a lot )?(?:about|of) (?:{_SH_LOOSE}|hurting myself|harming myself)",
            "thinking about cutting",
        ),
        _r(
            "cut harm hurt burn",
            rf"\b(?:trying|struggling|fighting|trying my best|doing my best|working hard|forcing myself) (?:so hard |really hard |hard )?not to (?:{_SH_LOOSE})",
            "trying not to self-harm",
        ),
        _r(
            "relief release",
            r"\bcraving (?:the )?(?:relief|release|feeling) of (?:self harm|cutting)\b",
            "craving the relief of self-harm",
        ),
        _r(
            "cut harm hurt burn",
            rf"\b(?:screaming|begging|telling me) (?:at me )?to (?:{_SH_LOOSE})",
            "screaming at me to hurt myself",
        ),
        _r(
            "wanted urge tempted",
            r"\b(?:did not|managed not to|resisted|avoided) (?:self harm|cut|cutting|hurt myself|hurting myself)\b.{0,40}\b(?:wanted to|urges?|tempted)\b",
            "didn't, though I wanted to",
        ),
    ),
    "recent_self_harm": (
        _r(
            "myself",
            r"\bi (?:just )?(?:cut|burned|burnt|hurt|harmed|hit|scratched|bruised|punched|slapped|bit|stabbed) myself\b"
            r"(?! (?:shaving|cooking|by accident|accidentally|on (?:the|a)|at the gym|playing|lifting|running|falling|skiing|doing))",
            "I cut myself",
        ),
        _r(
            "myself",
            r"(?:^|[.,;!?] *|\band )(?:just )?(?:cut|burned|burnt|hurt|harmed) myself\b(?! (?:shaving|cooking|by accident|accidentally|on (?:the|a)))",
            "(subjectless) hurt myself earlier",
        ),
        _r(
            "self harm",
            r"\b(?:i )?(?:just |have )?self harmed\b|\b(?:did|done) (?:self harm|some self harm)\b",
            "self harmed",
        ),
        _r(
            "relaps slip",
            r"\b(?:relapsed|relapse|slipped up|slip up|slipped) (?:on|with|and) (?:the )?(?:self harm|cutting|cut|hurt myself|burned myself)\b",
            "relapsed on self harm",
        ),
        _r(
            "cut burn hurt harm",
            r"\bi (?:cut|burned|burnt|hurt|harmed) (?:myself )?(?:again|yesterday|last (?:night|week|weekend)|today|this (?:morning|week|weekend)|earlier|tonight|for the first time)\b"
            r"|(?:^|[.!?,] *)(?:cut|cutting|self harming) again\b",
            "cut again",
        ),
        _r(
            "myself cutting harming scratching burning bruising",
            r"\b(?:started|been|am|was|keep|kept) (?:self harming|cutting|scratching|burning|bruising|hitting myself|burning myself|hurting myself|punching myself|scratching myself|harming myself)(?: \w+)? (?:again|every|each|daily|most|when|whenever|a lot)\b"
            r"|\b(?:have|i have) been (?:self harming|cutting|burning myself|hurting myself|hitting myself|punching myself|harming myself)\b",
            "started cutting again",
        ),
        _r("fresh", r"\bfresh (?:cuts|wounds|burns|scars)\b", "fresh cuts"),
        _r(
            "cuts burns wounds",
            r"\b(?:the |my |new )?(?:cuts|burns|wounds) on my (?:arms?|wrists?|legs?|thighs?|stomach|skin|hips?)\b"
            r"(?! (?:from|by) (?:the|my|a) (?:cat|dog|kitten|garden|brambles|gardening|work|climbing|fall))",
            "cuts on my arms",
        ),
        _r(
            "head",
            r"\b(?:banged|bang|banging|hit|hitting) my head (?:against|on|off) (?:the |a )?(?:wall|floor|door|desk)\b",
            "banged my head against the wall",
        ),
        _r(
            "wall",
            r"\b(?:punch\w*|hit|hitting|bang\w*|kick\w*) (?:the |a )?wall (?:\w+ ){0,2}?until (?:my )?(?:knuckles|hands?|fists?|head|foot) (?:\w+ )?(?:bled|bleed|split|broke|cracked|bruised|were bleeding|was bleeding)\b",
            "punched the wall until my knuckles split",
        ),
        _r(
            "scars scabs wounds",
            r"\b(?:picking|picked|pick|scratching|scratched|reopen\w*) (?:at )?(?:my )?(?:old )?(?:scars|scabs|wounds|cuts)\b(?:.{0,40}\b(?:again|open|opened|bleed\w*|bled))?",
            "picking at my old scars",
        ),
        _r(
            "marks scars cuts burns",
            r"\bhid(?:e|ing)? (?:the |my )?(?:marks|scars|cuts|burns)\b",
            "hiding the marks",
        ),
        _r(
            "purpose deliberately intentionally hurt",
            r"\b(?:cut|burned|burnt|hit|punched|scratched|bit|bruised|hurt|harmed|slapped|kicked|starved) (?:\w+ ){0,5}?(?:on purpose|deliberately|intentionally)\b"
            r"|\b\w+(?:ed|ing|t) myself (?:\w+ ){0,3}?(?:on purpose|deliberately|intentionally)\b|\bwanted it to hurt\b",
            "on purpose",
        ),
        _r(
            "bleed bled bruised blistered broke",
            r"\b(?:scratch\w*|pick\w*|cut|cutting|hit|hitting|punch\w*|bit|bite|biting|burn\w*|bang\w*) (?:at )?(?:my|the) (?:arms?|skin|legs?|wrists?|face|thighs?|hands?|stomach|wall|head)\b(?: \w+){0,5}? (?:until|till) (?:they|it|my \w+) (?:bleed|bled|bleeds|bleeding|bruised|blistered|broke)\b",
            "scratching until they bleed",
        ),
    ),
    "hopelessness": (
        _r(
            "hopeless",
            r"\bhopeless\b(?! (?:at|with|when it comes|romantic|case|cause|task|about (?!the future|life|everything|myself|getting better|recovery|ever)|about the future of))",
            "hopeless (who: checked by context)",
        ),
        _r(
            "hope",
            r"\b(?:lost|lost all|losing|losing all|no|out of|given up|give up) (?:my )?hope\b(?! (?:in|of|for|that) (?:the|this|that|them|him|her|getting|my (?!future|life|recovery)))"
            r"|\bno hope left\b|\bhope is gone\b",
            "lost all hope",
        ),
        _r(
            "reason",
            r"\b(?:run )?out of reasons\b(?! (?:to (?:stay|be) (?:angry|mad|upset)))|\bno reasons? left\b|\bno reason to (?:keep going|stay|try|get up|carry on)\b",
            "out of reasons",
        ),
        _r(
            "another",
            r"\b(?:can not|could not|will not|do not think i can) (?:do|survive|face|get through|take) another (?:winter|year|day|week|christmas|night|month)\b",
            "couldn't do another winter",
        ),
        _r(
            "too tired exhausted worn",
            r"\btoo (?:tired|exhausted|worn out|weak) to (?:keep fighting|fight (?:this|it|anymore)|keep going|go on|carry on|keep trying)\b",
            "too tired to keep fighting",
        ),
        _r(
            "nothing i",
            r"\bnothing i (?:do|say|try) (?:matters|will (?:ever )?matter|makes (?:a|any) difference|ever helps)\b",
            "nothing I do matters",
        ),
        _r(
            "way out escape future light trapped forever forward",
            r"\bno (?:future|light at the end|way forward)\b|\bno (?:way out|escape)\b(?! (?:of|from) (?:the|this|that|a|my) (?!life|situation|pain|hell|hole|darkness|mess|feeling|depression|cycle|world)\w+)"
            r"|\btrapped\b(?= *(?:$|[.,;!?]|and\b|forever|with no|in (?:my|this) (?:own )?(?:life|head|body|mind|pain)))|\bstuck like this forever\b",
            "no way out",
        ),
        _r(
            "future way out forward end to light",
            r"\b(?:can not|do not) see (?:a|any) (?:future|way out|way forward|end to this|light)\b",
            "can't see a future",
        ),
        _r(
            "better",
            r"\b(?:do not|can not) see (?:any way|how|a way) (?:this|it|things|anything|life|my life) (?:will |could |is going to |is ever going to )?(?:ever )?(?:get|gets|getting|be|being) (?:any )?better\b",
            "don't see how it gets better",
        ),
        _r(
            "point",
            r"\b(?:there is )?no point (?:to|in|of)? ?(?:anything|trying|it all|carrying on|going on|any of it)\b"
            r"|\b(?:there is )?no point(?: anymore)?(?= *(?:$|[.,;!?]))"
            r"|\b(?:do not|can not) see (?:the|any) point(?: (?:anymore|of anything|in anything|in trying|of trying))?(?= *(?:$|[.,;!?]|anymore|honestly))"
            r"|\bwhat is (?:even )?the point(?: (?:anymore|of anything|of it all|of any of it))?(?= *(?:$|[.,;!?]))",
            "no point",
        ),
        _r(
            "point",
            r"\bwhat is (?:even )?the point (?:of|in) (?:trying|anything|it all|any of it|going on|carrying on|recovery|getting better|therapy|any of this|me)\b",
            "what's the point of trying",
        ),
        _r(
            "pointless meaningless empty worthless meaning purpose",
            r"\b(?:everything|life|my life|it all|nothing) (?:feels|is|seems|has become|matters) (?:so |completely |totally |just )?(?:pointless|meaningless|empty|worthless)\b(?! without)"
            r"|\b(?:life|my life|everything|living) (?:has|holds) no (?:meaning|purpose|point)\b"
            r"|\bnothing matters(?: anymore)?(?= *(?:$|[.,;!?]|anymore))",
            "everything feels pointless",
        ),
        _r(
            "give up done trying",
            r"\bi (?:just |officially |completely )?give up(?= *(?:$|[.,;!?]|on (?:life|everything|myself|getting better|recovery|living|it all|hope)))"
            r"|\bi am (?:so |just |completely )?done trying\b(?! to)",
            "I give up, I'm done trying",
        ),
        _r(
            "never going to",
            r"\b(?:it|things|this|life|my life|nothing|anything) (?:is|are) (?:never|not ever) going to (?:change|get better|improve|be (?:ok|okay|different|better|any different))(?= *(?:$|[.,;!?]|for me|and|so|is it|honestly|no matter))",
            "it's never going to change",
        ),
        _r(
            "bother",
            r"\bwhy (?:do i |should i |would i |do we )?(?:even )?bother(?: (?:anymore|trying|at all))?(?= *(?:$|[.,;!?]))",
            "why bother",
        ),
        _r(
            "over ruined finished",
            r"\bmy life is (?:over|ruined|finished)\b(?! if)",
            "my life is over",
        ),
        _r(
            "go on keep going keep doing keep fighting fight take cope do this do it living carry hold on",
            r"\b(?:can not|no way i can|unable to) (?:go on|keep going|keep doing this|do this|do it|keep fighting|fight|take (?:it|this|much more)|cope|keep living|carry on)(?: like this)? (?:anymore|any longer|like this|much longer)\b"
            r"|\b(?:can not|no way i can) (?:go on|keep fighting|keep living like this|carry on)\b"
            r"|\b(?:can not|could not|unable to) hold on (?:any longer|anymore|much longer)\b"
            r"|\b(?:do not know|not sure) how (?:much )?(?:longer|much more) i can (?:keep going|go on|do this|take|hold on|cope|keep doing this|keep fighting|last)\b",
            "can't go on",
        ),
        _r(
            "nothing",
            r"\bnothing (?:is|will)(?: ever)?(?: going to)? (?:ever )?(?:change|get better|be (?:okay|ok|alright|fine|better|the same)|improve)\b",
            "nothing will ever change",
        ),
        _r(
            "better happy ok normal",
            r"\b(?:never|not ever) (?:going to )?(?:get|be|feel) (?:any )?(?:better|happy|okay|ok|normal) again\b|\bnever going to get (?:any )?better\b"
            r"|\bwill never (?:get|be|feel) (?:any )?(?:better|happy|okay|ok|normal)\b",
            "never going to get better",
        ),
        _r(
            "better happy ok",
            r"\bdo not think (?:i will|i am going to|things will|it will|anything will|life will) (?:ever )?(?:get|be|feel) (?:any )?(?:better|happy|okay|ok)\b",
            "don't think things will ever get better",
        ),
        _r(
            "nothing left",
            r"\bnothing left (?:for me|in me|to (?:give|live for|lose|fight for))\b",
            "nothing left for me",
        ),
        _r(
            "living live",
            r"\bcan not (?:keep |go on )?(?:living|live) like this\b",
            "can't keep living like this",
        ),
        _r(
            "giv",
            r"\b(?:i am|i have|have|feel like|feeling like|thinking of|thinking about) giv(?:ing|en) up(?= *(?:$|[.,;!?]|on (?:life|everything|myself|me|getting better|recovery|hope|living|it all|ever)))"
            r"|\bgiv(?:e|ing) up on (?:life|everything|myself|getting better|recovery|living)\b",
            "giving up",
        ),
        _r(
            "future",
            r"\bmy future (?:is|looks|feels) (?:just |only )?(?:more (?:of )?(?:this )?(?:pain|suffering|of this)|empty|dark|bleak|pointless|hopeless|nothing)\b",
            "my future is just more pain",
        ),
        _r(
            "tired of",
            r"\btired of (?:hoping|fighting|pretending|trying to (?:stay|keep) alive)\b",
            "tired of hoping",
        ),
    ),
    "burden": (
        _r(
            "burden waste drain",
            r"\b(?:i am|i feel like|feel like|i feel|feeling like|being|im just|i am just|i am only|i am such|i am nothing but|i have become) (?:such |just |only |nothing but |)(?:a |an )?(?:\w+ )?"
            r"(?:burden|waste of (?:space|oxygen|air|life)|drain on)\b(?! of proof)",
            "I'm a burden",
        ),
        _r(
            "without me",
            r"\b(?:better|happier|fine|okay|ok|relieved|easier|good|lighter|freer|calmer) (?:off )?without me\b",
            "better off without me",
        ),
        _r(
            "better off",
            r"\b(?:everyone|everybody|they|they will all|they would all|my family|people|the world) (?:will|would|is going to|are going to) (?:all )?be better off(?= *(?:$|[.,;!?]))",
            "everyone will be better off",
        ),
        _r(
            "if i",
            r"\b(?:better|happier|fine|relieved|easier) (?:off )?if i (?:was|were|am) (?:gone|dead|not (?:here|around|alive)|never born)\b"
            r"|\b(?:better|happier|relieved) (?:off )?if i (?:just )?(?:never existed|did not exist|disappeared|was never born|had never been born|died|killed myself|was not (?:here|around))\b",
            "relieved if I was gone",
        ),
        _r(
            "miss care notice sad",
            r"\b(?:no one|nobody|none of them) (?:would|will|is going to) (?:even )?(?:miss me|notice me|care about me"
            r"|notice (?:if|when) i (?:was gone|were gone|died|disappeared|vanished|was not here|was dead|left for good|stopped existing)"
            r"|care (?:if|when) i (?:died|was gone|disappeared|was dead|lived or died|was not here|stopped existing|left|vanished)"
            r"|be sad (?:if|when) i)\b",
            "nobody would miss me",
        ),
        _r(
            "notice care miss",
            r"\b(?:anyone|anybody|people|they|everyone) (?:would|will) (?:even |actually |really )?(?:notice|care|miss me)(?: at all)? (?:if|when) i (?:was gone|were gone|died|disappeared|vanished|was not here|was dead|stopped existing)\b"
            r"|\b(?:would|will|does|do) (?:anyone|anybody|people|they|everyone) (?:even |actually |really )?(?:notice|care|miss me)(?: at all)? (?:if|when) i (?:was gone|were gone|died|disappeared|vanished|was not here|was dead|stopped existing|killed myself)\b",
            "would anyone notice if I was gone",
        ),
        _r(
            "care",
            r"\b(?:no one|nobody) (?:would |will |even |really )*(?:cares?|gives a \w+) (?:if|whether) i (?:live|die|lived|died|exist|am alive|am here|am gone)\b",
            "nobody cares if I live or die",
        ),
        _r(
            "care notice",
            r"\b(?:no one|nobody) (?:would|will) (?:even )?(?:care|notice)(?= *(?:$|[.,;!?]))",
            "nobody would care",
        ),
        _r(
            "space down lives life",
            r"\b(?:just |only )?taking up space\b|\bdrag everyone down\b|\bruin(?:ing)? everyone(?:s)? li(?:fe|ves)\b",
            "taking up space",
        ),
        _r(
            "if i",
            r"\b(?:less stress\w*|less hassle|less trouble|less worry|easier|better|happier) (?:\w+ ){0,4}?if i (?:was|were|am) (?:gone|dead|not (?:here|around|alive))\b",
            "less stress if I wasn't around",
        ),
        _r(
            "funeral",
            r"\b(?:no one|nobody|not one person) (?:would|will) (?:even )?(?:come to|go to|turn up (?:to|at)|show up (?:to|at)|cry at) my funeral\b",
            "nobody would come to my funeral",
        ),
        _r(
            "better off with",
            r"\bbe better off with (?:a )?(?:different|another|better|new) (?:mum|mom|dad|mother|father|parent|partner|wife|husband|person)\b"
            r"|\b(?:being|i am|am) (?:everyones|everybodys|the familys|the) (?:problem|burden)\b"
            r"|\b(?:a )?weight (?:around|round|on) (?:everyones|everybodys|their|my \w+s) necks?\b"
            r"|\bforget (?:about )?me if i (?:was|were) gone\b",
            "better off with a different mum",
        ),
        _r(
            "deserve",
            r"\bmy (?:kids|children|son|daughter|family|partner|husband|wife|boyfriend|girlfriend|parents) (?:deserve|deserves) (?:a )?better (?:mum|mom|dad|mother|father|parent|wife|husband|partner|girlfriend|boyfriend|daughter|son|person)(?: than me)?\b",
            "my kids deserve a better mum",
        ),
    ),
}

# Fallbacks: a bare first-person act with no modal ("kill myself lol") is ideation; they
# count only when no imminent signal fired.
_FALLBACK_TABLE: dict[str, tuple[tuple[str, str, str], ...]] = {
    "passive_ideation": (
        _r(
            "kill end tak commit hang shoot gas drown stab poison starve suffocate slit cut fire jump throw step walk driv crash drink",
            rf"(?<!could )\b(?:{_KILL_MYSELF}|end(?:ing)? my (?:own )?life|tak(?:e|ing) my (?:own )?life|commit(?:ting)? suicide|{_METHOD_ACT})\b",
            "bare act",
        ),
    ),
    "self_harm_urge": (_r("myself", r"\bto (?:hurt|harm|burn) myself\b", "to hurt myself"),),
    "recent_self_harm": (
        _r(
            "myself",
            r"\b(?:hitting|punching|biting|scratching|burning|cutting|hurting|harming|starving) myself\b",
            "hurting myself (who: checked by context)",
        ),
    ),
}

# ---------------------------------------------------------------------------------------
# Weak cues: count only in combination (see _combine).
# ---------------------------------------------------------------------------------------

_CUE_TABLE: dict[str, tuple[tuple[str, str, str], ...]] = {
    "vague_act": (
        _r(
            "do it through happen stupid end",
            r"\b(?:going to|about to|i will|i am|i|want to|ready to|decided to|finally|am) (?:finally |just |really |actually )?"
            r"(?:do it|doing it|go through with it|going through with it|make it happen|do something stupid|end it|end this)\b(?! with| ?[-:])"
            r"|\bplan is to (?:do it|go through with it|end it)\b",
            "going to do it",
        ),
        _r(
            "disappear vanish",
            r"\b(?:going to|about to|i will) (?:just )?(?:disappear|vanish)\b(?! (?:for (?:a|the) (?:bit|while|day|week|weekend)|off))",
            "going to disappear",
        ),
        _r(
            "pain suffering",
            r"\b(?:going to|about to|i will|want to|ready to|finally) (?:finally |just )?end (?:my|the|all the|this) (?:pain|suffering)\b",
            "going to end my pain",
        ),
        _r(
            "jump",
            r"\b(?:going to|about to|i will|i am|want to|ready to) (?:just )?jump\b(?! (?:in|into|on|at|for|up|around|the gun|ahead|ship|rope|start))",
            "going to jump",
        ),
        _r(
            "use",
            r"\b(?:going to|about to|i will|want to|thinking (?:about|of)) (?:finally )?us(?:e|ing) (?:it|them)\b",
            "going to use it",
        ),
        _r(
            "tak swallow",
            r"\b(?:going to|about to|i will|want to|ready to|when i|then i|tonight i|today i|finally|i am|am) (?:finally |just |will )?(?:take|swallow|taking|swallowing) (?:them|it|all of them|them all|it all)\b",
            "going to take them",
        ),
        _r(
            "happen",
            r"\bit is (?:happening|going to happen) (?:tonight|tomorrow|today|soon|this|now)\b",
            "it's happening tomorrow",
        ),
        _r(
            "go leave",
            r"\b(?:tonight|today|tomorrow|then) i (?:go|leave)\b|\bi (?:go|leave) tonight\b",
            "tonight I go",
        ),
        _r(
            "do it properly",
            r"\b(?:time|chance) to (?:do it|go through with it)\b|\bdo it (?:properly|right) this time\b",
            "time to do it properly this time",
        ),
        _r(
            "ended end it",
            r"\b(?:because|when|once|if) i (?:ended|end|have ended) it\b(?! with)",
            "because I ended it",
        ),
        _r(
            "wake",
            r"(?<!pray )(?<!hope )(?<!wish )(?<!praying )(?<!hoping )(?<!that )\bi (?:will not|am not going to|will never) wake up\b(?! (?:early|in time|till|until|before|for|on time))",
            "I won't wake up",
        ),
    ),
    "pain_end": (
        _r(
            "pain suffering",
            r"\b(?:no more|end (?:of )?(?:the|my)) (?:pain|suffering) (?:after|from|by) (?:tonight|today|tomorrow|this)\b",
            "no more pain after tonight",
        ),
    ),
    "time": (
        _r(
            "tonight today tomorrow now this day midnight morning next year birthday hour"
            " after once when 0 1 2 3 4 5 6 7 8 9",
            rf"\b{_TIME}\b",
            "a time",
        ),
    ),
    "apology": (
        _r(
            "sorry",
            r"\b(?:i am )?(?:so |really )?sorry\b(?! (?:for|about) (?:the|my|this) (?:long|late|rant|delay|typos?|spam|essay|moan|vent|post|message|quiet))"
            r"(?! to hear)(?! you)(?! i have been)",
            "I'm sorry",
        ),
        _r("forgive", r"\bforgive me\b", "forgive me"),
    ),
    "farewell": (
        _r(
            "bye farewell",
            r"\b(?:goodbye|bye|farewell)\b(?! (?:to (?:my|the|our|this)|\d|for now|for the (?:night|day)|for a bit))",
            "goodbye",
        ),
        _r(
            "nice knowing",
            r"\b(?:it was|it has been|been) (?:nice|good|lovely) knowing (?:you|everyone|all of you)\b",
            "nice knowing you",
        ),
        _r(
            "sees this reads this finds this",
            r"\bif (?:anyone|someone|anybody|you) (?:sees|reads|finds|see|read|find) this\b",
            "if anyone sees this",
        ),
        _r(
            "coming back come back bye",
            r"\bnot (?:be )?(?:coming|come|going to come) back\b(?! (?:to (?:work|the|this|group|uni|school|class)))"
            r"|\b(?:said|saying) (?:goodbye|bye) to (?:them|him|her|my (?:dog|cat|pets?|kids|children|family|parents|mum|mom|dad|partner|husband|wife))\b(?! (?:at|before|for (?:the|a)|until|till|and (?:went|headed)))",
            "I'm not coming back",
        ),
        _r("before i go", r"\bbefore i go(?= *(?:$|[.,;!?]))", "before I go"),
        _r(
            "tell",
            r"\b(?:please )?tell (?:my )?(?:\w+ ){1,2}(?:that )?i am (?:so )?sorry\b(?! (?:for|about|i (?:missed|forgot|was late)))"
            r"|\btell (?:my )?\w+ (?:that )?i love(?:d)? (?:them|him|her|you)\b",
            "tell ma I'm sorry",
        ),
        _r(
            "sad remember worry",
            r"\bplease do not (?:be sad|cry|blame yourselves|miss me|be angry)\b|\bjust remember (?:that )?i (?:tried|loved)\b"
            r"|\bdo not worry about me after (?:today|tonight|tomorrow|this)\b"
            r"|\b(?:the )?last time i (?:will )?(?:post|write|be on|come on) here\b",
            "please don't be sad",
        ),
        _r(
            "let down hurt burden",
            r"\bsorry (?:to|for) (?:everyone|everybody|all of you|all the people|you all) i (?:have )?(?:let down|hurt|failed)\b"
            r"|\bsorry for (?:being (?:such )?a burden|everything i put you through)\b",
            "sorry to everyone I let down",
        ),
        _r(
            "find me look for me after me",
            r"\bdo not (?:try to |bother trying to )?(?:find|look for|come after|come looking for) me\b",
            "don't try to find me",
        ),
        _r(
            "last final worry",
            r"\b(?:last|final) (?:message|post|words|thing i (?:will )?(?:write|say|post))\b(?! (?:before|for|in|on|of|until|till))"
            r"|\b(?:do not|please do not|no need to) worry about me anymore\b",
            "last message",
        ),
        _r("gone", r"\b(?:i will|i am going to) be gone soon\b", "I'll be gone soon"),
    ),
    # Telling the group, unasked, what is happening: with a place or an act it is an alert.
    "telling": (
        _r(
            "know telling say hear from",
            r"\b(?:just )?want(?:ed)? (?:someone|somebody|anyone|you|you all|you guys|someone here) to know\b"
            r"|\b(?:do not know|not sure) why i am (?:telling|posting|writing) (?:you|this|here|anyone)\b"
            r"|\b(?:just )?want(?:ed)? to (?:say|tell you|hear from (?:you|everyone)) (?:\w+ )?(?:thanks|thank you|goodbye|bye|sorry|i love|one last)\b",
            "just wanted someone to know",
        ),
    ),
    "bare_act": (
        _r(
            "kill end tak commit hang shoot gas drown stab poison starve suffocate slit cut fire jump throw step walk driv crash drink",
            rf"(?<!could )\b(?:{_KILL_MYSELF}|end(?:ing)? my (?:own )?life|tak(?:e|ing) my (?:own )?life|commit(?:ting)? suicide|{_METHOD_ACT})\b",
            "bare act",
        ),
    ),
    "urge_in_recovery": (
        _r(
            "clean free",
            r"\b(?:clean|free) (?:from|of) (?:self harm|cutting|sh|self harming)\b.{0,60}?\b(?:struggling|urges?|craving|tempted|want to|wanting to|hard not to|close to)\b(?! (?:to )?(?:celebrate|share))",
            "clean from self-harm and struggling",
        ),
    ),
    "now": (_r("now", r"\bright now\b|\bnow\b(?= *(?:$|[.!?]))", "right now"),),
    "took_pills": (
        _r(
            "took taken swallowed",
            rf"\b(?:already|just) (?:took|taken|swallowed) (?:the|my|all the|those|these) (?:\w+ )?{_PILLS}\b",
            "already taken the tablets",
        ),
    ),
    "not_here": (
        _r(
            "here around alive",
            r"\b(?:will not|not going to|never going to|i am not going to) be (?:here|around|alive)\b",
            "I won't be here",
        ),
    ),
    "love_thanks": (
        _r(
            "love",
            r"\b(?:i )?love (?:you all|you guys|all of you|everyone|you so much)\b",
            "I love you all",
        ),
        _r(
            "thank",
            r"\bthank(?:s| you)? (?:\w+ ){0,2}?for (?:everything|being there|trying|all you have done|all (?:your|the) (?:help|support|kindness)|being (?:my friends?|a friend|so kind|kind|amazing))\b"
            r"|\byou (?:guys |all )?(?:were|have been|are) (?:the best|so kind|so good to me|amazing|wonderful)\b"
            r"|\bthank(?:s| you) (?:all|everyone|everybody|guys)(?: so much| for everything)?(?= *(?:$|[.,;!?]))",
            "thank you for everything",
        ),
        _r(
            "fault",
            r"\b(?:was|is) not (?:your|anyones|her|his|their) fault\b",
            "it wasn't your fault",
        ),
        _r(
            "better this way for the best",
            r"\b(?:it is )?better this way\b|\bit is for the best\b",
            "better this way",
        ),
        _r(
            "take care of look after feed",
            r"\b(?:take care of|look after|feed) (?:each other|yourselves|my (?:cat|dog|pets?|kids|children|\w+ for me))\b",
            "take care of each other",
        ),
    ),
    "finality": (
        _r(
            "this is it",
            r"(?:^|[.!?] |\bso )this is it(?= *(?:$|[.!?]))",
            "so this is it",
        ),
        _r(
            "made decided decision mind",
            r"\b(?:made|make) (?:my|the|up my) (?:choice|decision|mind)\b|\bi (?:have )?decided\b|\bdecision is made\b|\bmy mind is made up\b"
            r"|\b(?:at peace|okay|ok|calm|fine) with (?:my|the|this) (?:decision|choice)\b",
            "I've decided",
        ),
        _r(
            "mean it going back other way only way done matter peace for me",
            r"\bi mean it this time\b|\bno going back\b|\bno other way\b|\bonly way out\b"
            r"|\bi am (?:so |just )?done(?: now)?(?= *(?:$|[.,;!?]))|\bnone of (?:this|it) will matter\b"
            r"|\bmade (?:my )?peace with (?:it|dying|my decision|everything|this)\b|\b(?:it|this) is for me(?= *(?:$|[.,;!?]))"
            r"|\bmade sure of (?:it|that)\b",
            "I mean it this time",
        ),
        _r(
            "stop me",
            r"\b(?:no one|nobody|you|nothing|no body) (?:can|will|is going to|could) (?:not )?stop me\b",
            "nobody can stop me",
        ),
        _r(
            "ready",
            r"\b(?:for when|until) i am ready\b|\bi am ready\b(?= *(?:$|[.,;!?]|now))|\beverything (?:is )?ready\b",
            "I'm ready",
        ),
        _r(
            "what it is for hear about me needed to say mess rest",
            r"\bi know what (?:it is|they are|that is) for\b|\byou will (?:all )?hear about me\b"
            r"|\bsaid (?:everything|all) i (?:needed|wanted|had) to say\b"
            r"|\b(?:did not|do not) want to leave a mess for (?:anyone|anybody|you|them|my \w+)\b"
            r"|\bfinally (?:be able to )?(?:rest|be at peace|be free|sleep forever)\b",
            "I know what it's for",
        ),
        _r(
            "talk me out",
            r"\b(?:do not|please do not|no one can|nobody can|no point trying to) (?:try to |try and )?(?:talk|persuade) me out of it\b",
            "don't try to talk me out of it",
        ),
        _r(
            "over left to do last time better than need when",
            r"\bthen it is (?:all )?over\b|\bit will (?:all )?be over (?:soon|tonight|then)\b"
            r"|\b(?:just )?one (?:more |last )?thing left to do\b|\bone (?:last|final) time\b"
            r"|\b(?:look after|take care of|love) (?:him|her|them|it) better than i (?:ever )?could\b"
            r"|\b(?:he|she|they|you|i) (?:will|would) need (?:it|them|this) after(?= *(?:$|[.,;!?]))|\b(?:and )?that is when(?= *(?:$|[.!?]))",
            "then it's over",
        ),
        _r(
            "tonight tomorrow today soon forever good",
            r"(?:^|[.!?] )(?:tonight|tomorrow|today|this weekend|soon|forever|for good)(?: it is| then)? *(?:[.!]|$)",
            "tonight. (a time on its own)",
        ),
        _r("scared", r"\bnot scared (?:of dying|to die|anymore)\b", "not scared of dying"),
        _r(
            "got everything ready",
            r"\b(?:have got|got|have) everything (?:ready|sorted|in place)\b",
            "got everything ready",
        ),
        _r(
            "the night the day",
            r"\b(?:tonight|today|tomorrow|this) is the (?:night|day)\b",
            "tonight's the night",
        ),
    ),
    "means_weak": (
        _r(
            "pill tablet med paracetamol prescription insulin painkiller antidepressant razor knife",
            rf"\b(?:have|got|bought|ordered|holding|found|have got|keep|kept) (?:a |the |my |some |all the |enough |\d+ )?(?:\w+ )?(?:{_PILLS}|razor|knife)\b"
            r"(?! (?:set|block|sharpener|for (?:my|the) (?:dad|mum|kids|kitchen)))",
            "got the pills",
        ),
        _r(
            "hidden stashed saved hiding table desk bed floor lap need staring stuff out lined",
            rf"\b(?:{_PILLS}|knife|blade|rope|razor) (?:hidden|stashed|saved)\b|\b(?:hidden|stashed|hiding) (?:a |my |the |some )?(?:{_PILLS}|knife|blade|rope|razor)\b"
            rf"|\b(?:all )?(?:my |the )?{_PILLS} (?:are )?(?:on|in) (?:the|my) (?:table|desk|bed|floor|lap)\b"
            r"|\bgot them all (?:lined up|counted out|laid out|out)\b"
            r"|\b(?:bought|got|have|ordered|found) (?:everything|what|all|the stuff|the things) i need(?:ed)?\b|\b(?:ordered|bought) (?:the|some) stuff\b"
            rf"|\b(?:got|get|getting|laid|lined) (?:all )?(?:my |the )?(?:\w+ )?(?:{_PILLS}|pens|syringes) out\b"
            rf"|\bstaring at (?:the |my |all the )?(?:{_PILLS}|knife|blade|rope|razor)\b",
            "pills hidden",
        ),
    ),
    # Objects with few everyday uses in a support-group message: a time is enough with them.
    "means_grim": (
        _r(
            "rope noose gun firearm pistol blade branch beam hook pipe banister bannister",
            r"\b(?:have|got|bought|ordered|holding|found|have got|keep|kept|with|carrying|brought|tied|tying)"
            r" (?:a |the |my |some |\w+s )?(?:\w+ )?(?:rope|noose|gun|firearm|pistol|blade|razor blades?)\b"
            r"|\b(?:the |a |my |\w+s )?(?:rope|noose|gun|firearm|pistol) (?:is|are) (?:in|under|ready|hidden|tied|upstairs|downstairs|loaded)\b"
            r"|\b(?:strong|sturdy) (?:branch|beam|hook|pipe|bannister|banister)\b"
            r"(?! (?:swing|ladder|course|for (?:my|the) (?:dad|mum|kids|garden|tent|boat)))",
            "got a rope",
        ),
    ),
    "plan_weak": (
        _r(
            "planned sorted arranged",
            r"\b(?:it )?all (?:planned|sorted|arranged)(?: out)?\b|\beverything is (?:planned|sorted|arranged)\b"
            r"|\bplanned (?:it|everything|it all) (?:all )?out\b",
            "all planned",
        ),
        _r(
            "away giv gave",
            r"\b(?:giv(?:en|ing|e)|gave) (?:away |\w+ )?(?:most of |all of |all )?my (?:things|stuff|belongings|possessions|books|clothes|savings|\w+ and my \w+|(?:\w+ )?(?:guitar|games|console|records|jewellery|jewelry|art|plants|bike|car|laptop|collection))\b",
            "given away my things",
        ),
        _r(
            "need",
            r"\b(?:will not|would not|am not going to) (?:be )?need(?:ing)? (?:them|it|anything|either|any of (?:it|them|this)|my \w+)(?: anymore)?\b",
            "won't need them",
        ),
        _r(
            "cancel",
            r"\bcancel(?:led|ed) (?:my )?(?:therapy|counselling|counseling|appointments|subscriptions|phone contract|plans)\b",
            "cancelled my therapy",
        ),
        _r(
            "loose ends order socials accounts account paid passwords pin bank gave rehomed cancelled",
            r"\btying up (?:the |some |all the |my )?loose ends\b|\beverything(?: is)? in order\b"
            r"|\bdeleted (?:all )?my (?:socials|social media|accounts|instagram|facebook|tiktok)\b"
            r"|\bpaid (?:back )?(?:what i owe|everyone back|off my debts|my debts)\b|\bpaid off (?:the|my) (?:credit card|debts?|loan|overdraft)\b"
            r"|\bcancel(?:led|ed) (?:the|my) (?:gym|phone|subscriptions?|contract|lease)\b|\bdelete my account after\b"
            r"|\b(?:passwords?|pin|passcode|phone code|bank (?:stuff|details|logins?)) (?:are |is )?(?:in|on|under|for whoever|written)\b"
            r"|\b(?:sent|gave|given|left) (?:\w+ ){0,2}(?:my )?(?:passwords?|pin|passcode|phone code|bank (?:stuff|details|logins?))\b"
            r"|\b(?:gave|given|giving|rehomed) my (?:dog|cat|pets?|rabbit|bird|hamster)(?: (?:away|to))?\b",
            "tying up loose ends",
        ),
        _r(
            "know where know how know when",
            r"\bi know (?:where|how|when) i (?:will|am going to) (?:go|do it)\b(?! (?:for|to|on|after|next|if|with|on))",
            "I know where I'll go",
        ),
        _r(
            "affairs will",
            r"\baffairs in order\b|\b(?:my )?will is (?:done|written|sorted|ready)\b|\b(?:written|writing|wrote|finished|updated|updating|changed|redone) my will\b",
            "affairs in order",
        ),
        _r(
            "note letter",
            r"\b(?:writing|wrote|written|finished|left) (?:\w+ ){0,4}?(?:my|a|the) (?:note|letter)s?\b(?! (?:to (?:my )?(?:younger|future) self|for (?:school|work|the (?:teacher|landlord|council))))",
            "left a note",
        ),
        _r(
            "home",
            r"\b(?:cat|dog|pets?|kids) (?:has|have) (?:a )?new homes?\b",
            "found my cat a new home",
        ),
        _r("cancel", r"\bcancel(?:led|ed) everything\b", "cancelled everything"),
        _r(
            "out empty asleep gone away until  at ",
            r"\b(?:need|wait(?:ing)? for|waiting until|when) (?:everyone|the house|them) (?:to be |is |are )?(?:out|empty|asleep|gone|quiet)\b"
            r"|\b(?:my )?(?:partner|husband|wife|parents|family|mum|mom|dad|flatmate|everyone|kids|children)s? (?:is |are )?(?:away|out|at (?:their|his|her) \w+) (?:tonight|today|this weekend|until|all weekend)\b",
            "when the house is empty",
        ),
        _r(
            "letter note",
            r"\b(?:wrote|written|writing|left) (?:letters|notes|a letter|a note) (?:to|for) (?:my (?:kids|children|family|parents|partner|husband|wife|mum|mom|dad|friends|sister|brother)|everyone)\b",
            "wrote letters to my kids",
        ),
    ),
    "act_weak": (
        _r(
            "swallowed",
            rf"\bswallowed (?:the |my |all the |them)(?:{_PILLS})?\b",
            "swallowed the tablets",
        ),
        _r(
            "took taken swallowed",
            r"\b(?:already|just) (?:took|taken|swallowed) them\b",
            "already took them",
        ),
        _r(
            "kick work",
            rf"\b(?:{_PILLS}|they) (?:are |have )?(?:starting to |started to )?(?:kick(?:ing)? in|work(?:ing)?)\b",
            "pills kicking in",
        ),
        _r(
            "started starting begun",
            rf"\b(?:started|starting|begun) (?:taking|swallowing) (?:the |my |them|all )(?:{_PILLS})?",
            "started taking them",
        ),
        _r(
            "so far already",
            r"\b(?:had|taken|took|swallowed) (?:about |like |around )?\d+ (?:so far|already)\b",
            "had 15 so far",
        ),
        _r(
            "locked",
            r"\blocked myself in (?:the|my) (?:bathroom|room|bedroom|car|garage)\b",
            "locked myself in the bathroom",
        ),
        _r(
            "heading going walking driving",
            r"(?:^|[.!?] |\bi am |\bam |\bi will be )(?:heading|going|walking|driving|on my way) (?:to|towards|out to) (?:the )?(?:bridge|cliffs?|tracks|railway|roof|woods|forest|river|sea|multi ?storey)\b",
            "heading to the bridge",
        ),
        _r("started", r"\bi have (?:already )?started\b|\bit has started\b", "I've started"),
        _r(
            "too late",
            r"\bit is too late(?: now)?(?= *(?:$|[.,;!?]|to stop|for me))|\btoo late to stop\b",
            "it's too late now",
        ),
        _r(
            "bridge roof cliff edge balcony ledge car park storey platform",
            r"(?:\b(?:i am|am)|^|[.!?] )(?: *(?:standing|sitting|stood|sat|outside|back|up))? *(?:on|at) (?:the |a |my )?(?:top (?:floor )?of (?:the |a )?)?(?:\d+\w* floor |top floor )?(?:(?:railway|motorway|train|old|suspension|river) )?(?:bridge|roof|rooftop|cliff|edge|car park roof|car park|multi ?storey|balcony|window ledge|ledge|train platform|platform)\b"
            r"(?! (?:terrace|garden|bar|top|near|of my nose|club))",
            "on the bridge",
        ),
        _r(
            "looking down over",
            r"\blooking (?:down|over the edge|over the side)\b(?! (?:at (?:my|the) (?:phone|feet|shoes|notes)))",
            "looking down",
        ),
        _r(
            "looks seems quiet high peaceful",
            r"\bthe (?:water|drop|ground|river|sea|traffic|street) (?:looks|is|seems) (?:\w+ )?(?:calm|peaceful|far|so far|a long way down|inviting|so far down)(?: from here| from up here)?\b"
            r"|\bit is (?:so |really )?(?:high|quiet|peaceful) up here\b",
            "the water looks calm from here",
        ),
        _r(
            "fast",
            r"\bthe fast (?:one|train)s? (?:comes?|goes|pass(?:es)?) through\b",
            "the fast train",
        ),
        _r(
            "bath",
            rf"\bin the (?:bath|bathtub) with (?:a|the|my) (?:razor|blade|knife|{_PILLS})\b",
            "in the bath with the razor",
        ),
        _r(
            "dizzy drowsy sick faint woozy",
            r"\bfeel (?:so |really )?(?:dizzy|drowsy|sick|faint|woozy)\b",
            "feel dizzy",
        ),
    ),
    "return": (
        _r(
            "see talk back update bit while now night few couple catch holiday break logging"
            " signing cheering out next 20 luck best wishes discharged moving job rooting care",
            r"\b(?:see you|talk (?:to you )?(?:soon|later|tomorrow)|be back|back (?:soon|in|on|next|after|when|tomorrow|later)"
            r"|update you|(?:for|in) (?:a bit|a while|now|the night|a few|a couple)|catch you|talk to you later|goodnight|night all"
            r"|holiday|a break|logging off|signing off|cheering you on|when i am out|next (?:week|month|time|session|year)|20\d\d"
            r"|good luck|all the best|best wishes|discharged|moving on|new job|rooting for you|take care all)\b",
            "see you soon",
        ),
    ),
    "travel": (
        _r(
            "train flight plane trip drive bus ferry journey shift work moving move uni emigrat appointment"
            " dentist doctor gp exam meeting wedding party visiting group break focus step",
            r"\b(?:train|flight|plane|trip|drive|driving|bus|ferry|journey|shift|work|moving (?:house|out|away|to)|move house|emigrat\w+|uni|university"
            r"|appointment|dentist|doctors?|gp|exams?|meeting|wedding|party|visiting"
            r"|(?:leave|leaving|quit|quitting) (?:the|this) group|focus on|(?:take|taking) a break|step(?:ping)? back)\b",
            "early train",
        ),
    ),
    "upbeat": (
        _r(
            "luck crossed excited wait yay woo date out proud !",
            r"\b(?:wish me luck|fingers crossed|so excited|excited|can not wait|yay|woo+|first date|asking (?:her|him|them) out|proud of myself)\b"
            r"|\b(?:do it|doing it|did it|decided)!",
            "wish me luck",
        ),
    ),
    "death_word": (
        _r(
            "die dying dead death suicid kill end tak commit overdos myself jump throw step walk"
            " driv crash drink wake",
            rf"\b(?:die|dying|dead|death|suicid\w*|{_SELF_ACT}|not wake up)\b",
            "death words",
        ),
    ),
}

# ---------------------------------------------------------------------------------------
# Context: negation, the past, someone else, quotations.
# ---------------------------------------------------------------------------------------

_CLAUSE_BREAK = re.compile(
    r"[.!?;:\n()]+|,| - |\b(?:but|though|although|however|except|whereas|yet)\b"
)
_QUOTED = re.compile(r"(?<![a-z0-9])(['\"])(?=\S)([^'\"\n]{1,200}?)(?<=\S)\1(?![a-z0-9])")
_NEGATORS = frozenset({"not", "never", "no", "nor", "without", "nothing"})
_NEGATION_STOP = frozenset(
    {"i", "and", "so", "because", "then", "if", "when", "that", "once", "after"}
)
# "can not stop thinking about cutting" is not a negation of "cutting".
_HEDGED = re.compile(
    r"\b(?:not|never) (?:think|feel|believe|saying|say|mean|feeling) (?:that )?i"
    r"(?: am| was| will| would| have| have been| feel)?(?: \w+)? *$"
)
_NEGATION_CANCEL = frozenset(
    {"stop", "help", "resist", "shake", "escape", "wait", "handle", "bear", "sure", "get", "know"}
)
_PAST = re.compile(
    r"\b(?:used to|use to|back then|back in|years ago|a year ago|months ago|last year"
    r"|when i was (?:younger|little|small|a (?:kid|child|teen|teenager|student)|at (?:school|uni|college)|in (?:school|my \w+)|\d+)"
    r"|in my (?:teens|twenties|thirties|forties|20s|30s|40s|youth|childhood|early|late)"
    r"|as a (?:kid|child|teen|teenager)|in (?:19|20)\d\d|(?:most|much|all) of (?:19|20)\d\d"
    r"|spent years|since my last|since i last|my last (?:attempt|relapse)|my (?:first |previous |own )?attempt"
    r"|survived (?:my|an|the|a)|survivor|recovered from|looked back|looking back|remember when"
    r"|(?<!after )(?<!ruined )(?<!broke )(?<!lost )(?<!ending )(?<!ended )(?:\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|several|many|few)"
    r" (?:days?|weeks?|months?|years?|decades?) (?:clean|free|sober|without|since|of recovery)"
    r"|(?:months?|years?|decades?) (?:ago|clean|free)|clean from|free from|free of)\b"
)
_THIRD_PRONOUNS = frozenset(
    "he she they you someone somebody anyone anybody everyone everybody people who whoever one".split()
)
_PERSON_NOUNS = frozenset(
    """friend friends mate mates bestie son sons daughter daughters brother brothers sister
    sisters mum mom mother dad father parent parents partner husband wife boyfriend
    girlfriend bf gf kid kids child children teen teenager teenagers flatmate roommate
    housemate colleague coworker client patient patients uncle aunt auntie nan nana gran
    granny grandma grandmother grandad grandpa grandfather cousin student students
    classmate classmates neighbour neighbor member members character villain victim man
    woman guy girl boy nephew niece carer therapist doctor manager boss teacher
    stepdad stepmum stepmom ex""".split()
)
_POSSESSIVE_OTHER = frozenset({"his", "her", "their", "your", "whose"})
_REPORTING = re.compile(
    r"\b(?:said|says|saying|told|tells|telling|texted|texts|messaged|posted|wrote|writes"
    r"|asked|asks|mentioned|admitted|joked|joking|jokes|screamed|shouted|thinks|talks about"
    r"|talking about|talked about|going on about|wished)\b"
)
_FIRST_PERSON_WORD = re.compile(r"\b(?:i|me|myself|my|mine)\b")


@dataclass(frozen=True, slots=True)
class _Rule:
    signal: str
    needs: frozenset[str]  # empty: always tried
    regex: re.Pattern[str]
    note: str
    literals: tuple[str, ...] | None  # every match contains one (None: not known)


def _compile(table: dict[str, tuple[tuple[str, str, str], ...]]) -> tuple[_Rule, ...]:
    rules = []
    for signal, rows in table.items():
        for needs, pattern, note in rows:
            regex = re.compile(pattern)
            literals = required_literals(regex)
            rules.append(
                _Rule(
                    signal,
                    frozenset(needs.split()),
                    regex,
                    note,
                    None if literals is None else tuple(sorted(literals, key=len)),
                )
            )
    return tuple(rules)


_RULES = _compile(_SIGNAL_TABLE)
_FALLBACK_RULES = _compile(_FALLBACK_TABLE)
_CUE_RULES = _compile(_CUE_TABLE)
_ALL_RULES = _RULES + _CUE_RULES + _FALLBACK_RULES
_CUES_AT, _FALLBACKS_AT = len(_RULES), len(_RULES) + len(_CUE_RULES)
_ALL_TABLES = (_RULES, _CUE_RULES, _FALLBACK_RULES)
# The few patterns whose tree gives no literals keep their hand-written gate.
_UNFILTERED = tuple(
    (1 << i, rule.needs) for i, rule in enumerate(_ALL_RULES) if rule.literals is None
)


def _gated(text: str, mask: int) -> tuple[list[_Rule], list[_Rule], list[_Rule]]:
    """The rules worth trying on `text`, given what the index found in it: strong, cue and
    fallback, each in table order."""
    for bit, needs in _UNFILTERED:
        if not needs or any(word in text for word in needs):
            mask |= bit
    return (
        _pick(mask, _RULES),
        _pick(mask >> _CUES_AT, _CUE_RULES),
        _pick(mask >> _FALLBACKS_AT, _FALLBACK_RULES),
    )


def _pick(mask: int, rules: tuple[_Rule, ...]) -> list[_Rule]:
    """The rules whose bits are set, in order (bit i is rules[i])."""
    mask &= (1 << len(rules)) - 1
    picked = []
    while mask:
        low = mask & -mask
        picked.append(rules[low.bit_length() - 1])
        mask ^= low
    return picked


# Vague acts that a time alone makes intent ("tomorrow morning i'm going to jump"); "i'm
# going to do it tonight" needs more than a time.
_TIMED_ACTS = frozenset(
    {
        "going to disappear",
        "going to end my pain",
        "going to jump",
        "going to take them",
        "it's happening tomorrow",
        "tonight I go",
        "I won't wake up",
    }
)
# Strong goodbye/timing patterns that an ordinary reason for leaving explains away.
_LEAVING_NOTES = frozenset(
    {
        "I'll be gone by morning",
        "won't be able to after tonight",
        "I won't be around anymore",
        "when I'm gone",
        "not going to be here after tonight",
        "won't make it to the new year",
        "this is goodbye",
        "saying my goodbyes",
    }
)
# Cues read as they are, without the context checks (a time can be anywhere in a message).
_UNCHECKED = frozenset({"time", "return", "travel", "upbeat", "death_word", "urge_in_recovery"})


class _Context:
    """One normalised message, with its clause boundaries and quotations, found when a
    pattern first matches (most messages match none, and pay nothing for them)."""

    __slots__ = ("text", "_starts", "_ends", "_quotes")

    def __init__(self, text: str) -> None:
        self.text = text
        self._starts: list[int] = []

    def _read(self) -> None:
        text = self.text
        starts = [0]
        ends = []
        for m in _CLAUSE_BREAK.finditer(text):
            ends.append(m.start())
            starts.append(m.end())
        ends.append(len(text))
        self._starts = starts
        self._ends = ends
        has_quotes = "'" in text or '"' in text
        self._quotes = [(m.start(), m.end()) for m in _QUOTED.finditer(text)] if has_quotes else []

    def counts(self, m: re.Match[str]) -> bool:
        """Whether a match speaks for the author, now, without negation."""
        if not self._starts:
            self._read()
        start = m.start()
        if any(a < start < b for a, b in self._quotes):
            return False
        i = bisect_right(self._starts, start) - 1
        c_start, c_end = self._starts[i], self._ends[i]
        prefix = self.text[c_start:start]
        words = prefix.split()
        first = m.group(0).lstrip(" .,;!?").split(" ", 1)[0]
        if first not in _NEGATION_STOP and _negated(words):
            return False
        if _in_the_past(self.text, c_start, max(c_end, m.end())):
            return False
        if _reported_by_other(prefix):
            return False
        if words and words[-1] in _POSSESSIVE_OTHER:
            return False
        return bool(_FIRST_PERSON_WORD.search(m.group(0))) or not _subject_is_other(words)


_STREAK_BROKEN = re.compile(
    r"\b(?:after|ruined|broke|broken|lost|ending|ended|threw away)(?: \w+)? *$"
)


def _in_the_past(text: str, start: int, end: int) -> bool:
    """A past or recovery marker in the clause, unless it is a streak just broken ("cut
    again after 40 days clean")."""
    for m in _PAST.finditer(text, start, end):
        if not _STREAK_BROKEN.search(text, max(0, m.start() - 14), m.start()):
            return True
    return False


def _negated(words: list[str]) -> bool:
    """A negator shortly before the match, with no new subject in between.

    "i do not think i am [suicidal]" is negated too, though "i" starts a new subject.
    """
    n = len(words)
    if n >= 3 and _HEDGED.search(" ".join(words[-7:])):
        return True
    for i in range(n - 1, max(-1, n - 6), -1):
        w = words[i]
        if w in _NEGATION_STOP:
            return False
        if w in _NEGATORS:
            return not any(b in _NEGATION_CANCEL for b in words[i + 1 :])
    return False


def _subject_is_other(words: list[str]) -> bool:
    """The nearest subject before the match is someone other than the author."""
    for w in reversed(words[-8:]):
        if w == "i":
            return False
        if w in _THIRD_PRONOUNS or w in _PERSON_NOUNS:
            return True
    return False


def _reported_by_other(prefix: str) -> bool:
    """'my daughter said ...', 'he keeps saying ...': someone else's words."""
    verbs = _REPORTING.findall(prefix)
    if not verbs:
        return False
    return _subject_is_other(prefix[: prefix.rindex(verbs[-1])].split())


# ---------------------------------------------------------------------------------------
# Method detail (safe messaging: shown to others only behind a warning)
# ---------------------------------------------------------------------------------------

_METHOD = re.compile(
    rf"\b(?:overdos\w*|{_PILLS}|rope|noose|hang\w*|ligature|jump\w*|bridge|roof|cliff|ledge"
    r"|tracks|train|blade|razor|knife|cut\w*|slit|gun|shoot|shot|firearm|exhaust|charcoal|drown\w*"
    r"|bleed\w*|blood|vodka|alcohol)\b"
)
_DETAIL = re.compile(
    r"\b(?:\d+(?:st|nd|rd|th)? ?(?:mg|g|ml|pills?|tablets?|x|floors?|storeys?|stories|feet|ft|metres?|meters?)\b"
    r"|whole (?:bottle|box|pack|packet|strip)|all (?:of )?my (?:\w+ )?(?:pills|tablets|meds|medication|antidepressants|painkillers)"
    r"|handful|deep(?:ly|er)?|vertical\w*|veins?|artery|arteries|wrists?|throat"
    r"|with (?:vodka|alcohol|wine|whisky|whiskey|beer|gin|rum|booze|drink)"
    r"|lethal|fatal|how (?:many|much)|high enough|all of them|every (?:pill|tablet)"
    r"|paracetamol|acetaminophen|tylenol|ibuprofen|aspirin|codeine|tramadol|insulin|sertraline"
    r"|fluoxetine|citalopram|amitriptyline|diazepam|zopiclone|oxycodone|fentanyl|morphine|lithium)\b"
)
_RISK_CONTEXT = re.compile(
    r"\b(?:suicid\w*|overdos\w*|kill(?:ed|ing)? (?:my|him|her|them)sel(?:f|ves)|self harm\w*"
    r"|end (?:my|his|her|their) li(?:fe|ves)|attempt\w*|die|died|dying|dead)\b"
)


# Someone (anyone) took a large amount: method detail whoever it is about.
_OD_ANYONE = re.compile(rf"\b(?:took|taken|swallowed|downed|overdosed on) {_OD_OBJECT}")


# Bits of the literal index (after the rules') for the two searches above: a text holding
# none of a search's literals can't match it, so the search isn't run.
_TALK_GATES = (_RISK_CONTEXT, _OD_ANYONE)
_TALK_LITERALS = [required_literals(p) for p in _TALK_GATES]
_TALK_AT = len(_ALL_RULES)
_TALK_ALWAYS = sum(1 << i for i, lits in enumerate(_TALK_LITERALS) if lits is None)
_INDEX = LiteralIndex([*(rule.literals for rule in _ALL_RULES), *_TALK_LITERALS])


def _method_detail(text: str, at_risk: bool, talk: int = -1) -> bool:
    """`talk`: bit i set if the text may match _TALK_GATES[i] (the index says)."""
    talk |= _TALK_ALWAYS
    if not (
        at_risk
        or (talk & 1 and _RISK_CONTEXT.search(text))
        or (talk & 2 and _OD_ANYONE.search(text))
    ):
        return False
    return bool(_METHOD.search(text) and _DETAIL.search(text))


# ---------------------------------------------------------------------------------------
# Assessment
# ---------------------------------------------------------------------------------------

_MAX_CHARS = 20_000  # longer input is read up to here; chat messages are far shorter


def _hits(rules: Sequence[_Rule], ctx: _Context, unchecked: frozenset[str]) -> dict[str, set[str]]:
    """Signal (or cue) name -> notes of the rules that matched in context."""
    text = ctx.text
    found: dict[str, set[str]] = {}
    for rule in rules:
        for m in rule.regex.finditer(text):
            if rule.signal in unchecked or ctx.counts(m):
                found.setdefault(rule.signal, set()).add(rule.note)
                break
    return found


def _combine(signals: set[str], cues: dict[str, set[str]]) -> None:
    """Turn co-occurring weak cues into signals, in place."""

    def has(name: str) -> bool:
        return name in cues

    def n(name: str) -> int:
        return len(cues.get(name, ()))

    if has("upbeat"):  # "tonight's the night i finally do it, wish me luck"
        return
    strong = bool(signals)
    imminent = bool(signals & _IMMINENT)
    # "tonight's the night i finally do it. i'm sorry.", "tomorrow morning i'm going to jump"
    if has("vague_act") and (
        (has("time") and not cues["vague_act"].isdisjoint(_TIMED_ACTS))
        or has("apology")
        or has("farewell")
        or has("finality")
        or has("death_word")
        or has("means_weak")
        or has("plan_weak")
        or strong
    ):
        signals.add("intent")
    # "got the pills. tonight.", "pills hidden for when i'm ready", "i have a rope. tonight"
    if has("means_grim") and (
        has("time")
        or has("finality")
        or has("vague_act")
        or has("act_weak")
        or has("plan_weak")
        or strong
    ):
        signals.add("means")
    if has("means_weak") and (
        has("finality")
        or has("farewell")
        or has("death_word")
        or has("vague_act")
        or has("plan_weak")
        or has("act_weak")
        or imminent
        or n("means_weak") >= 2
    ):
        signals.add("means")
    # "it's all planned, i just need everyone out of the house"
    if n("plan_weak") >= 2 or (
        has("plan_weak")
        and (has("finality") or has("means_weak") or has("farewell") or has("vague_act") or strong)
    ):
        signals.add("plan")
    # "i've swallowed the tablets and i feel dizzy", "i'm on the roof, i'm going to jump"
    if n("act_weak") >= 2 or (
        has("act_weak") and (has("apology") or has("farewell") or has("vague_act") or imminent)
    ):
        signals.add("act_in_progress")
    # "passwords are in the blue notebook. sorry for the mess"
    if has("plan_weak") and has("apology") and not (has("return") or has("travel")):
        signals.add("plan")
    # "tonight after everyone's asleep. i've decided. don't try to talk me out of it"
    if n("finality") >= 2 and has("time"):
        signals.add("intent")
    # "i'm standing on the bridge right now", "i've already taken the tablets. i just wanted
    # someone to know"
    if has("act_weak") and (has("now") or has("telling")):
        signals.add("act_in_progress")
    if has("took_pills") and (
        has("telling") or has("apology") or has("farewell") or has("finality") or strong
    ):
        signals.add("act_in_progress")
    # "no more pain after tonight. thank you all."
    if has("pain_end") and (
        has("farewell") or has("love_thanks") or has("apology") or has("finality") or strong
    ):
        signals.add("timing")
    # "goodbye everyone. thank you for everything. i'm sorry."
    if not (has("return") or has("travel")):
        if has("farewell") and (
            n("farewell") + n("apology") + n("love_thanks") + n("finality") + n("telling") >= 2
            or strong
        ):
            signals.add("goodbye")
        elif has("apology") and has("love_thanks") and has("finality"):
            signals.add("goodbye")
        # "i'm so sorry. i can't fight anymore. please forgive me."
        elif n("apology") >= 2 and strong:
            signals.add("goodbye")
        # "please look after my kids for me. i can't do this anymore. i'm so sorry."
        elif has("love_thanks") and (has("apology") or has("finality")) and strong:
            signals.add("goodbye")
        # "so this is it. thanks for trying everyone. i love you all"
        elif (
            n("apology") + n("love_thanks") + n("finality") >= 3
            and (has("apology") + has("love_thanks") + has("finality")) >= 2
        ):
            signals.add("goodbye")
        # "i won't be here" is an ordinary absence note unless something else sounds final
        if has("not_here") and (has("farewell") or has("love_thanks") or has("finality") or strong):
            signals.add("goodbye")
    if has("bare_act") and has("time"):
        signals.add("intent")
    if has("urge_in_recovery"):
        signals.add("self_harm_urge")
    # A set time makes any imminent signal more urgent, and says so.
    if has("time") and signals & _IMMINENT:
        signals.add("timing")


def _assess(text: str, gated: bool = True, prepared: Prepared | None = None) -> Assessment:
    if not text or text.isspace():
        return NONE
    norm = normalise(text[:_MAX_CHARS]) if prepared is None else prepared.text
    if not norm:
        return NONE
    ctx = _Context(norm)
    mask = _INDEX.matching(norm) if gated else -1
    rules, cue_rules, fallback_rules = _gated(norm, mask) if gated else _ALL_TABLES
    found = _hits(rules, ctx, frozenset())
    cues = _hits(cue_rules, ctx, _UNCHECKED)
    if "return" in cues or "travel" in cues or "upbeat" in cues:
        # "i'll be gone by morning - early train!": leaving words in an ordinary message
        for name in ("goodbye", "timing"):
            if name in found and found[name] <= _LEAVING_NOTES:
                del found[name]
    signals = set(found)
    _combine(signals, cues)
    if not signals & _IMMINENT:
        signals |= set(_hits(fallback_rules, ctx, frozenset()))
    if signals & _IMMINENT:
        level: Level = "imminent"
    elif signals:
        level = "elevated"
    else:
        level = "none"
    ordered = tuple(sorted(signals, key=_RANK.__getitem__))
    return Assessment(level, ordered, _method_detail(norm, level != "none", mask >> _TALK_AT))


def assess(text: str, prepared: Prepared | None = None) -> Assessment:
    """Assess one message. Deterministic, in-process, no I/O.

    `prepared` is `prepare(text)` when the caller has it already (posting also looks for
    content-warning topics in it)."""
    return _assess(text, prepared=prepared)


def prepare(text: str) -> Prepared:
    """A message normalised as `assess` reads it (up to its length limit), for the
    assessor and the topic check to share."""
    return Prepared(normalise(text[:_MAX_CHARS]))
