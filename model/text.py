"""Text normalisation shared by training, serving and scanning.

Every path that turns a listing into model input goes through :func:`listing_text`, so a
model sees the same text at training and at prediction time. Normalisation undoes what can
be undone without guessing: HTML remnants, mojibake, Unicode compatibility forms, zero-width
characters, look-alike letters from other scripts, decoration symbols and emoji, words
spelled out letter by letter, leetspeak digits inside words, and whitespace.
"""

from __future__ import annotations

import html
import re
import unicodedata

# Characters that render as nothing and are used to split words past keyword filters.
_INVISIBLE = dict.fromkeys(
    map(ord, "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b\u200c\u200d\u200e\u200f"
             "\u202a\u202b\u202c\u202d\u202e\u2060\u2061\u2062\u2063\u2064\u206a\u206b\u206c"
             "\u206d\u206e\u206f\u3164\ufeff\uffa0"),
    None,
)

# Cyrillic, Greek, Armenian and IPA letters that look like Latin ones (the common
# homoglyph attack set). NFKC has already turned lunate sigma ϲ into ς by then.
_HOMOGLYPHS = str.maketrans(
    "АВЕЅІЈКМНОРСТУХаеһіјорсѕухԁԛԝѵӏΑΒΕΖΗΙΚΜΝΟΡΤΥΧαβεικνορτυχςɑɡıօոսʏ",
    "ABESIJKMHOPCTYXaehijopcsyxdqwvlABEZHIKMNOPTYXaBeiKvopTuXcagionuy",
)

# Both tables in one pass (their keys are disjoint and their outputs are plain ASCII), and
# a character class that finds whether a text needs it at all.
_LOOKALIKE_TABLE = {**_INVISIBLE, **_HOMOGLYPHS}
_LOOKALIKE_OR_INVISIBLE = re.compile(
    "[" + "".join(re.escape(chr(c)) for c in sorted(_LOOKALIKE_TABLE)) + "]")

# Symbols used as decoration ("★★ MDMA ★★", emoji): arrows, technical symbols, box
# drawing, geometric shapes, dingbats, CJK brackets, emoji and variation selectors.
_DECORATION = re.compile(
    "[\u2190-\u21ff\u2300-\u23ff\u2500-\u27bf\u2b00-\u2bff\u3008-\u3011"
    "\ufe0e\ufe0f\U0001f000-\U0001faff]+"
)

# A word spelled out letter by letter with one repeated separator: "c o k e", "c.o.k.e",
# "M-D-M-A" (three letters or more, so "U.S" and "e.g" stay as they are).
_SPELLED = re.compile(r"\b[^\W\d_]([ ._*\-])(?:[^\W\d_]\1)+[^\W\d_]\b")
# What every spelled-out word ends with (separator, letter, same separator, a last letter
# that ends the word); a pattern that starts with a small character set, which the regex
# engine skips to quickly, so most texts never run the slow one above. ("buy a gun" has
# " a g" but "g" does not end a word.)
_SPELLED_HINT = re.compile(r"([ ._*\-])[^\W\d_]\1[^\W\d_](?![^\W\d_])")

# Leetspeak inside a word: digits between letters read as the letters they imitate
# ("c0ca1ne", "w33d"); digits at a word's edge ("4-MMC", "MP3", "ak47") are left alone...
_LEET = re.compile(r"[013457](?<=[A-Za-z][013457])[013457]*(?=[A-Za-z])")
_LEET_DIGITS = "013457"
_LEET_LETTERS = str.maketrans(_LEET_DIGITS, "oieast")
# ...but for the unambiguous cases, undone in later passes (they must see the inner
# letters restored): a trailing 3 or 0 after four letters ("cocain3", "hell0": no product
# code ends that way), a leading 0 or $ before three letters ("0xy", "$hipping"; prices
# have digits after the $).
_LEET_END = re.compile(r"[30](?<=[A-Za-z]{4}[30])\b(?![.,]\d)")
_LEET_START = re.compile(r"[0$](?<![\w$][0$])(?=[A-Za-z]{3})")
_LEET_EDGE_LETTERS = {"3": "e", "0": "o", "$": "s"}
# Speed: each pattern above starts with the digit it rewrites, and the letters around it are
# checked by look-arounds. The regex engine then jumps from digit to digit instead of trying
# a match at every letter (4-5x faster; the texts they produce are the same).

_TAG = re.compile(r"<[^>]{0,200}>")
_MOJIBAKE_HINT = re.compile("[\u00c2\u00c3\u00e2][\u0080-\u00bf]")


def _repair_mojibake(text: str) -> str:
    """Undo UTF-8 bytes that were decoded as Latin-1 ("â\\x99\\x95" → "♕")."""
    if not _MOJIBAKE_HINT.search(text):
        return text
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def normalise(text: str) -> str:
    """Return ``text`` cleaned for modelling; case is kept (vectorisers decide on it)."""
    if not text:
        return ""
    if not text.isascii():  # mojibake is made of non-ASCII characters
        text = _repair_mojibake(text)
    if "&" in text:
        text = html.unescape(text)
    if "<" in text:
        text = _TAG.sub(" ", text)
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
        if _LOOKALIKE_OR_INVISIBLE.search(text):  # translate costs ~20 µs on any text
            text = text.translate(_LOOKALIKE_TABLE)
        text = _DECORATION.sub(" ", text)
    if _SPELLED_HINT.search(text):
        text = _SPELLED.sub(_join_spelled, text)
    if any(digit in text for digit in _LEET_DIGITS):
        text = _LEET.sub(_unleet, text)
    if "3" in text or "0" in text:
        text = _LEET_END.sub(_unleet_edge, text)
    if "0" in text or "$" in text:
        text = _LEET_START.sub(_unleet_edge, text)
    return " ".join(text.split())  # collapse whitespace (str.split is 7x faster than \s+)


def _join_spelled(match: re.Match[str]) -> str:
    return match.group().replace(match.group(1), "")


def _unleet(match: re.Match[str]) -> str:
    return match.group().translate(_LEET_LETTERS)


def _unleet_edge(match: re.Match[str]) -> str:
    return _LEET_EDGE_LETTERS[match.group()]


DEFAULT_MAX_DESCRIPTION_CHARS = 400
SEPARATOR = " | "


def listing_text(
    title: str,
    description: str | None = None,
    max_description_chars: int = DEFAULT_MAX_DESCRIPTION_CHARS,
) -> str:
    """The model input for one listing: normalised title, then the start of the description.

    The description is cut to ``max_description_chars`` so that long bodies do not drown the
    title, which carries most of the signal and is all that most sources have.
    """
    text = normalise(title)
    if description and max_description_chars > 0:
        # cut before normalising too (bodies run to many KB); twice the limit leaves room
        # for what normalisation removes
        body = normalise(description[: 2 * max_description_chars])[:max_description_chars]
        if body:
            text = f"{text}{SEPARATOR}{body}"
    return text
