"""Text normalisation shared by training, serving and scanning.

Every path that turns a listing into model input goes through :func:`listing_text`, so a
model sees the same text at training and at prediction time. Normalisation undoes what can
be undone without guessing: HTML remnants, mojibake, Unicode compatibility forms, zero-width
characters, look-alike letters from other scripts, and whitespace.
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

# Cyrillic and Greek letters that look like Latin ones (the common homoglyph attack set).
_HOMOGLYPHS = str.maketrans(
    "АВЕЅІЈКМНОРСТУХаеһіјорсѕухԁԛԝѵӏΑΒΕΖΗΙΚΜΝΟΡΤΥΧαβεικνορτυχ",
    "ABESIJKMHOPCTYXaehijopcsyxdqwvlABEZHIKMNOPTYXaBeiKvopTuX",
)

_TAG = re.compile(r"<[^>]{0,200}>")
_SPACE = re.compile(r"\s+")
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
    text = _repair_mojibake(text)
    if "&" in text:
        text = html.unescape(text)
    if "<" in text:
        text = _TAG.sub(" ", text)
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
        text = text.translate(_INVISIBLE).translate(_HOMOGLYPHS)
    return _SPACE.sub(" ", text).strip()


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
        body = normalise(description)[:max_description_chars]
        if body:
            text = f"{text}{SEPARATOR}{body}"
    return text
