"""Writing-register augmentation: the same listing, written the way a classifieds ad is.

The shared data has a confound (see ``../shared/datasets/README.md``): illicit listings come
from darknet markets, written by individuals in a loud, informal register (capitals, "!!!",
"$$$", prices, "cheap", "fast delivery"), while almost every benign listing comes from a
shop catalogue, written in a flat, formal one. A linear model learns the register as a
shortcut: on person-to-person ads from an unseen site (craigslist) it calls "AC UNIT !!!
5000 BTU" drugs. Copies of training rows of *every* class rewritten in that register make it
worthless as evidence, so the weights move onto what is offered.

The register markers below are generic selling phrases and typography, written by hand; none
is taken from an evaluation split.
"""

from __future__ import annotations

import random

import pandas as pd

from model.text import SEPARATOR, normalise
from training.augment import check_copy_source, pick_rows

_SHOUTS = ("!!!", "!!", "!", "!!!!!", "***", "$$$", "$$", "###", "~~~", "===", ">>>", "<<<",
           "...", "!!! $$$", "***!!!***")
_PHRASES = (
    "for sale", "FOR SALE", "cheap", "CHEAP!", "best price", "BEST PRICES!", "great deal",
    "like new", "brand new", "NEW", "must see", "must go", "wow", "WOW", "hot deal",
    "limited offer", "special offer", "discount", "sale", "on sale", "price drop",
    "fast delivery", "fast shipping", "free shipping", "ships today", "worldwide shipping",
    "cash only", "cash paid", "call now", "text me", "contact me", "pm me", "serious buyers only",
    "or best offer", "OBO", "negotiable", "bulk discount", "wholesale", "top quality",
    "high quality", "100% legit", "trusted seller", "satisfaction guaranteed", "in stock",
    "available now", "ready to ship", "grab it", "don't miss out", "deal of the day",
)
_CURRENCIES = ("$", "£", "€", "USD ", "Rs. ")
# Person-to-person sentence frames: a shop title is a bare noun phrase, an ad is often a
# sentence about one, full of function words ("my", "the", "for", "we") that a catalogue
# never uses and a darknet listing often does.
_FRAMES = (
    "selling my {}", "{} for sale", "I have a {} for sale", "looking to sell my {}",
    "we buy {}", "{} - used, works great", "{} in good condition", "need gone: {}",
    "my {} is for sale", "{} (pick up only)", "{} available now in the area", "who wants a {}?",
    "the {} you need", "get your {} today", "{} - call or text", "trade my {} for yours",
    "{} - barely used", "moving, must sell {}", "{} like new, no box", "anyone need a {}?",
    "{} - will deliver", "we repair {}", "{} and more for you", "wanted: {}",
)
# Share of copies cut to the first few words: ads are often a short heading where a shop
# title goes on to list brand, model and specs.
_SHORT_SHARE = 0.3
_FRAME_SHARE = 0.35


def _price(rng: random.Random) -> str:
    amount = rng.choice((rng.randint(5, 99), rng.randint(100, 999), rng.randint(1, 50) * 50))
    currency = rng.choice(_CURRENCIES)
    return f"{currency}{amount}"


def _recase(text: str, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.35:
        return text.upper()
    if roll < 0.55:
        return text.title()
    if roll < 0.7:
        return text.lower()
    return text


def _short(title: str, rng: random.Random) -> str:
    words = title.split()
    return " ".join(words[: rng.randint(1, 4)]) if len(words) > 4 else title


def informal(title: str, rng: random.Random) -> str:
    """``title`` in a classifieds register: sometimes cut to a short heading, recased, then
    either set in a person-to-person sentence frame or given 1–3 of shouting, selling
    phrases and a price around it. The listing's words kept are its first ones, in order."""
    if rng.random() < _SHORT_SHARE:
        title = _short(title, rng)
    title = _recase(title, rng)
    if rng.random() < _FRAME_SHARE:
        return rng.choice(_FRAMES).format(title)
    parts = [title]
    for _ in range(rng.randint(1, 3)):
        roll = rng.random()
        if roll < 0.45:
            extra = rng.choice(_PHRASES)
        elif roll < 0.75:
            extra = rng.choice(_SHOUTS)
        else:
            extra = _price(rng)
        if rng.random() < 0.5:
            parts.append(extra)
        else:
            parts.insert(0, extra)
    sep = rng.choice((" ", " - ", " / ", ", ", " "))  # never " | ": that ends a title
    return sep.join(parts)


def register_copies(frame: pd.DataFrame, *, label: str, fraction: float,
                    seed: int) -> pd.DataFrame:
    """Copies of ``round(fraction × rows of label)`` random rows of ``label``, titles rewritten
    by :func:`informal` (descriptions kept). ``frame`` has prepared ``text``, ``label`` and
    ``group``; a copy keeps its row's group, so grouped folds never split the two.

    Only the negative class needs it: the illicit rows are written that way already, and
    copying them too would only reinforce their majority.
    """
    check_copy_source(frame, fraction, "register augmentation")
    source = frame[frame["label"] == label].reset_index(drop=True)
    picks = pick_rows(len(source), fraction, seed)
    if len(picks) == 0:
        return frame.iloc[:0][["text", "label", "group"]]
    rng = random.Random(f"{seed}:register")
    texts = []
    for i in picks:
        title, sep, body = str(source.at[i, "text"]).partition(SEPARATOR)
        texts.append(f"{normalise(informal(title, rng))}{sep}{body}")
    return pd.DataFrame({"text": texts, "label": label,
                         "group": source["group"].to_numpy()[picks]})
