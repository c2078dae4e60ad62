"""A small raw table in the shared data's columns, written for tests."""

from __future__ import annotations

import pandas as pd

from tests.fixtures import LISTINGS

CATEGORY = {"drugs": "Drugs/Other", "weapons": "Weapons/Lethal firearms",
            "counterfeit": "Counterfeits/Watches", "stolen_data": "Data/Accounts"}


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
    columns = ["source", "market", "kind", "date", "vendor", "title", "description", "category"]
    frame = pd.DataFrame(rows, columns=columns).astype(object)
    frame["label"] = None
    return frame.where(frame.notna(), None)
