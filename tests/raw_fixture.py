"""A small raw table in the shared data's columns, written for tests."""

from __future__ import annotations

import pandas as pd

from tests.fixtures import LISTINGS

CATEGORY = {"drugs": "Drugs/Other", "weapons": "Weapons/Lethal firearms",
            "counterfeit": "Counterfeits/Watches", "stolen_data": "Data/Accounts"}


COLUMNS = ["source", "market", "kind", "date", "vendor", "title", "description", "category"]


def raw_frame() -> pd.DataFrame:
    rows = []
    for label, titles in LISTINGS.items():
        for i, title in enumerate(titles):
            for copy in range(3):  # three vendors each, so splits have groups to place
                if label == "benign":
                    rows.append(("shop-a", "shop", "surface", None, None,
                                 f"{title} model {copy}", None, "home"))
                else:
                    rows.append(("agora-test", "agora", "darkweb", "2014-01-01",
                                 f"vendor{(i + copy) % 7}", f"{title} lot {copy}", None,
                                 CATEGORY[label]))
    rows += [
        # exact duplicate of a row above (same vendor, case and spacing differ)
        ("agora-test", "agora", "darkweb", "2014-02-01", "vendor0",
         "5G  mdma CRYSTAL 84% pure lot 0", None, "Drugs/Other"),
        # near duplicate from another vendor
        ("agora-test", "agora", "darkweb", "2014-02-01", "other",
         "5g MDMA crystal - 84% pure, lot 0", None, "Drugs/Other"),
        # excluded by policy
        ("agora-test", "agora", "darkweb", "2014-01-01", "v9", "glass pipe", None,
         "Drug paraphernalia/Pipes"),
        # out-of-time market
        ("wh", "white-house", "darkweb", "2020-09-17", "whv", "Netflix logins x10", None,
         "Various Logins"),
        # empty title after cleaning
        ("shop-a", "shop", "surface", None, None, "\u200b ", None, "home"),
    ]
    frame = pd.DataFrame(rows, columns=COLUMNS).astype(object)
    frame["label"] = None
    return frame.where(frame.notna(), None)


def with_supplement_candidates(raw: pd.DataFrame, eval_title: str) -> pd.DataFrame:
    """The fixture plus Agora rows of the supplement's categories; one, without a vendor,
    falls in the near-duplicate cluster of the evaluation listing ``eval_title``."""
    rows = [
        ("agora-test", "agora", "darkweb", "2014-01-01", "gadgets", "iPhone 6 64gb gold", None,
         "Electronics"),
        ("agora-test", "agora", "darkweb", "2014-01-01", "gadgets", "Kindle Fire HDX 8.9",
         "brand new, sealed", "Electronics"),
        ("agora-test", "agora", "darkweb", "2014-01-01", "gadgets", "iPhone 6  64GB gold", None,
         "Electronics"),  # exact duplicate of the first
        ("agora-test", "agora", "darkweb", "2014-01-01", "bling", "Rolex Datejust replica", None,
         "Jewelry"),  # a replica: cleaned away
        ("agora-test", "agora", "darkweb", "2014-01-01", None, f"{eval_title} spare edition",
         None, "Electronics"),  # its cluster is in an evaluation split
        ("agora-test", "agora", "darkweb", "2014-01-01", "gadgets", "Marijuana Grow Basics", None,
         "Info/eBooks/Other"),  # a drug guide: cleaned away
    ]
    extra = pd.DataFrame(rows, columns=COLUMNS).astype(object)
    extra["label"] = None
    frame = pd.concat([raw, extra], ignore_index=True).astype(object)
    return frame.where(frame.notna(), None)
