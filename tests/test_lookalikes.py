import numpy as np
import pandas as pd
import pytest

from training.baseline import BaselineOptions
from training.lookalikes import lookalike_weights

DEFINITION = """
[[groups]]
name = "knives"
looks_like = "weapons"
rules = [{ source = "*", title = "(?i)\\\\bknife\\\\b" }]

[[groups]]
name = "blades"
looks_like = "weapons"
rules = [{ source = "kitchen-shop" }]

[[groups]]
name = "watches"
looks_like = "counterfeit"
rules = [{ source = "*", title = "(?i)rolex" }]
"""


def _frame() -> pd.DataFrame:
    rows = (
        [("weapons", "agora", f"butterfly knife {i}") for i in range(3)]
        + [("weapons", "agora", "glock 19")] * 3
        + [("benign", "kitchen-shop", "bread knife"), ("benign", "kitchen-shop", "peeler")]
        + [("benign", "home-shop", "chef knife")]
        + [("benign", "home-shop", f"towel {i}") for i in range(13)]
        + [("benign", "home-shop", "rolex datejust")]
    )
    frame = pd.DataFrame(rows, columns=["label", "source", "title"])
    return frame.assign(category=None)


def test_lawful_look_alikes_weigh_as_much_as_the_illicit_rows_they_resemble(tmp_path):
    definition = tmp_path / "groups.toml"
    definition.write_text(DEFINITION)
    frame = _frame()
    weights, summary = lookalike_weights(frame, "benign", 1.0, definition)
    # 3 weapons knives, each weighing 17 benign / 6 weapons rows; 2 lawful knives
    knife = 3 * (17 / 6) / 2
    assert weights[frame.title.isin(["bread knife", "chef knife"])].tolist() == [
        pytest.approx(knife)] * 2
    # the kitchen shop's peeler is in "blades", which has no weapons row: unchanged
    assert weights[frame.title == "peeler"].item() == 1.0
    assert np.all(weights[frame.label == "weapons"] == 1.0)  # only lawful rows are weighed
    assert np.all(weights[frame.title.str.startswith("towel")] == 1.0)
    assert [(s.group, s.lawful_rows, s.illicit_rows) for s in summary] == [
        ("knives", 2, 3), ("blades", 2, 0)]  # "watches" names a class the frame lacks
    assert summary[0].weight == pytest.approx(knife, abs=0.01)
    half, _ = lookalike_weights(frame, "benign", 0.5, definition)
    assert half[frame.title == "bread knife"].item() == pytest.approx(max(1.0, knife / 2))
    off, none = lookalike_weights(frame, "benign", 0.0, definition)
    assert off.tolist() == [1.0] * len(frame) and none == []


def test_look_alike_weighting_checks_its_input(tmp_path):
    with pytest.raises(ValueError, match="lookalike_balance must be >= 0"):
        BaselineOptions(lookalike_balance=-1.0)
    with pytest.raises(ValueError, match="lookalike_balance must be >= 0"):
        lookalike_weights(_frame(), "benign", float("nan"))
    with pytest.raises(ValueError, match=r"needs columns \['source'\]"):
        lookalike_weights(_frame().drop(columns=["source"]), "benign", 1.0)
