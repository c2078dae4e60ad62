"""Obfuscations that sellers use to slip listings past keyword filters, as text transforms.

Each perturbation is a pure function ``(text, rng) -> text``; all randomness comes from the
``random.Random`` passed in, so a seed reproduces a perturbed test set exactly. The same
functions generate the robustness test sets (``training.suite.robustness``) and the
training-time augmentation (``training.augment``).

    rng = random.Random(0)
    PERTURBATIONS["leetspeak"]("cocaine 1g", rng)   # e.g. "c0c4ine 1g"
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

Perturbation = Callable[[str, random.Random], str]

_WORD = re.compile(r"[^\W\d_]{3,}")  # letter runs of 3+: what the tricks are applied to

# Letter -> replacements seen in leetspeak listings ("c0caine", "w33d", "x4n4x", "$peed").
LEET: dict[str, str] = {"a": "4@", "e": "3", "i": "1", "o": "0", "s": "5$", "t": "7"}

# Latin letter -> look-alike letters from other scripts (Cyrillic, Greek, Armenian, IPA).
# Every one of these must map back to the Latin letter under model.text.normalise; the
# tests check the round trip character by character.
HOMOGLYPHS: dict[str, str] = {
    "a": "\u0430\u0251",  # Cyrillic а, Latin alpha ɑ
    "c": "\u0441\u03f2",  # Cyrillic с, Greek lunate sigma ϲ
    "e": "\u0435",  # Cyrillic е
    "i": "\u0456\u0131",  # Cyrillic і, dotless ı
    "j": "\u0458",  # Cyrillic ј
    "o": "\u043e\u03bf\u0585",  # Cyrillic о, Greek ο, Armenian օ
    "p": "\u0440",  # Cyrillic р
    "s": "\u0455",  # Cyrillic ѕ
    "x": "\u0445",  # Cyrillic х
    "y": "\u0443",  # Cyrillic у
    "g": "\u0261",  # Latin script g ɡ
    "n": "\u0578",  # Armenian ո
    "u": "\u057d",  # Armenian ս
    "A": "\u0410\u0391",
    "B": "\u0412\u0392",
    "C": "\u0421",
    "E": "\u0415\u0395",
    "H": "\u041d\u0397",
    "I": "\u0406\u0399",
    "K": "\u041a\u039a",
    "M": "\u041c\u039c",
    "N": "\u039d",
    "O": "\u041e\u039f",
    "P": "\u0420\u03a1",
    "T": "\u0422\u03a4",
    "X": "\u0425\u03a7",
    "Y": "\u03a5",
}

ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
SPACERS = (" ", ".", "-", "_", "*")
DECORATIONS = (
    ("★★ ", " ★★"), ("🔥🔥 ", " 🔥🔥"), ("✅ ", " ✅"), ("【", "】"), ("❄️ ", " ❄️"),
    ("💊 ", " 💊"), ("~~ ", " ~~"), ("*** ", " ***"), ("✨", "✨"), ("⭐ ", " ⭐"),
)
INLINE_EMOJI = ("🔥", "★", "✅", "💯", "🚀", "⭐", "👌", "💎", "✔", "➡")
BOILERPLATE = (
    "Limited time offer, buy now!",
    "Top quality at the best price.",
    "Please read the full description before ordering.",
    "Thanks for looking, check out my other listings.",
    "100% satisfaction guaranteed.",
    "Contact me for bulk orders and discounts.",
    "Fast dispatch, tracking included.",
    "Brand new, never used.",
)
_KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_NEIGHBOURS = {
    c: "".join(row[j] for j in (i - 1, i + 1) if 0 <= j < len(row))
    for row in _KEYBOARD_ROWS
    for i, c in enumerate(row)
}


def _per_word(text: str, rng: random.Random, rate: float,
              change: Callable[[str, random.Random], str]) -> str:
    """Apply ``change`` to each 3+-letter word with probability ``rate``; at least one word
    changes when the text has any, so no perturbed row is silently identical."""
    words = list(_WORD.finditer(text))
    if not words:
        return text
    chosen = {i for i in range(len(words)) if rng.random() < rate}
    if not chosen:
        chosen = {rng.randrange(len(words))}
    parts, last = [], 0
    for i, match in enumerate(words):
        parts.append(text[last:match.start()])
        parts.append(change(match.group(), rng) if i in chosen else match.group())
        last = match.end()
    parts.append(text[last:])
    return "".join(parts)


def leetspeak(text: str, rng: random.Random, rate: float = 0.6) -> str:
    """Swap letters for digits and symbols: "cocaine" → "c0ca1ne", "weed" → "w33d"."""

    def change(word: str, rng: random.Random) -> str:
        out = [rng.choice(LEET[c.lower()]) if c.lower() in LEET and rng.random() < 0.7 else c
               for c in word]
        return "".join(out)

    return _per_word(text, rng, rate, change)


def homoglyphs(text: str, rng: random.Random, rate: float = 0.5) -> str:
    """Swap Latin letters for look-alikes from other scripts (Cyrillic а for Latin a)."""

    def change(word: str, rng: random.Random) -> str:
        return "".join(rng.choice(HOMOGLYPHS[c]) if c in HOMOGLYPHS and rng.random() < 0.7
                       else c for c in word)

    return _per_word(text, rng, rate, change)


def zero_width(text: str, rng: random.Random, rate: float = 0.6) -> str:
    """Hide invisible characters inside words ("co\\u200bke")."""

    def change(word: str, rng: random.Random) -> str:
        return "".join(c + (rng.choice(ZERO_WIDTH) if k < len(word) - 1 and rng.random() < 0.5
                            else "") for k, c in enumerate(word))

    return _per_word(text, rng, rate, change)


def spacing(text: str, rng: random.Random, rate: float = 0.5) -> str:
    """Spell words out letter by letter: "c o k e", "c.o.k.e", "c-o-k-e".

    A spaced-out word is set off from its neighbours by two spaces, as sellers do, so that
    the letters of adjacent words do not run together.
    """

    def change(word: str, rng: random.Random) -> str:
        spacer = rng.choice(SPACERS)
        return f"  {spacer.join(word)}  " if spacer == " " else spacer.join(word)

    return _per_word(text, rng, rate, change)


def decoration(text: str, rng: random.Random, rate: float = 0.3) -> str:
    """Frame the text in symbols and sprinkle emoji between words ("★★ MDMA ★★")."""
    left, right = rng.choice(DECORATIONS)
    words = text.split(" ")
    out = []
    for word in words:
        out.append(word)
        if rng.random() < rate:
            out.append(rng.choice(INLINE_EMOJI))
    return f"{left}{' '.join(out)}{right}"


def case(text: str, rng: random.Random) -> str:
    """UPPER, lower, Title or aLtErNaTiNg case for the whole text."""
    style = rng.randrange(4)
    if style == 0:
        return text.upper()
    if style == 1:
        return text.lower()
    if style == 2:
        return text.title()
    return "".join(c.upper() if k % 2 else c.lower() for k, c in enumerate(text))


def typos(text: str, rng: random.Random, rate: float = 0.3) -> str:
    """Keyboard slips in words: swapped, dropped, doubled or neighbouring letters."""

    def change(word: str, rng: random.Random) -> str:
        if len(word) < 4:
            return word
        k = rng.randrange(1, len(word) - 1)
        kind = rng.randrange(4)
        if kind == 0:
            return word[:k] + word[k + 1] + word[k] + word[k + 2:]
        if kind == 1:
            return word[:k] + word[k + 1:]
        if kind == 2:
            return word[:k] + word[k] + word[k:]
        near = _NEIGHBOURS.get(word[k].lower())
        return word[:k] + rng.choice(near) + word[k + 1:] if near else word

    return _per_word(text, rng, rate, change)


def boilerplate(text: str, rng: random.Random) -> str:
    """Add one or two sentences of seller boilerplate before or after the text."""
    extra = " ".join(rng.sample(BOILERPLATE, rng.randint(1, 2)))
    return f"{text} - {extra}" if rng.random() < 0.5 else f"{extra} {text}"


PERTURBATIONS: dict[str, Perturbation] = {
    "leetspeak": leetspeak,
    "homoglyphs": homoglyphs,
    "zero_width": zero_width,
    "spacing": spacing,
    "decoration": decoration,
    "case": case,
    "typos": typos,
    "boilerplate": boilerplate,
}


def perturbation(name: str) -> Perturbation:
    try:
        return PERTURBATIONS[name]
    except KeyError:
        raise ValueError(f"unknown perturbation {name!r}; known: {sorted(PERTURBATIONS)}") from None


def perturb_listing(title: str, description: str | None, name: str,
                    rng: random.Random) -> tuple[str, str | None]:
    """Perturb a listing's title and, where it has one, its description with ``name``.

    Boilerplate and decoration go on the title only (they frame a listing once).
    """
    fn = perturbation(name)
    new_title = fn(title, rng)
    if description and name not in ("boilerplate", "decoration"):
        description = fn(description, rng)
    return new_title, description
