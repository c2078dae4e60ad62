from pathlib import Path

import pandas as pd
import pytest

from data.clean import apply_policy
from data.policy import EXCLUDE, load_policy

POLICY = load_policy()


@pytest.mark.parametrize(
    ("source", "market", "kind", "category", "expected"),
    [
        ("agora-titles-2014-2015", "agora", "darkweb", "Drugs/Cannabis/Weed", "drugs"),
        ("agora-titles-2014-2015", "agora", "darkweb", "Chemicals", "drugs"),
        ("agora-titles-2014-2015", "agora", "darkweb", "Weapons/Lethal firearms", "weapons"),
        ("agora-titles-2014-2015", "agora", "darkweb", "Counterfeits/Watches", "counterfeit"),
        ("agora-vendor-pages-2014-01", "agora", "darkweb", "Forgeries/", "counterfeit"),
        ("agora-titles-2014-2015", "agora", "darkweb", "Data/Accounts", "stolen_data"),
        ("agora-titles-2014-2015", "agora", "darkweb", "Drug paraphernalia/Pipes", EXCLUDE),
        ("agora-titles-2014-2015", "agora", "darkweb", "Services/Money", EXCLUDE),
        ("agora-titles-2014-2015", "agora", "darkweb", "Electronics", EXCLUDE),
        ("white-house-2020-09-17", "white-house", "darkweb", "Benzos - Pills", "drugs"),
        ("white-house-2020-09-17", "white-house", "darkweb", "Dumps", "stolen_data"),
        ("white-house-2020-09-17", "white-house", "darkweb", "Fake Documents (Digital)",
         "counterfeit"),
        ("white-house-2020-09-17", "white-house", "darkweb", "Other Software", EXCLUDE),
        ("cypher-2020-09-17", "cypher", "darkweb", "ID's", "counterfeit"),
        ("cypher-2020-09-17", "cypher", "darkweb", "Carding", EXCLUDE),
        ("yellow-brick-2020-09-17", "yellow-brick", "darkweb", "Flowers", "drugs"),
        ("yellow-brick-2020-09-17", "yellow-brick", "darkweb", "eBooks", EXCLUDE),
        ("dream-cocaine", "dream", "darkweb", None, "drugs"),
        ("dream-2016-2017", "dream", "darkweb", "Digital_Goods", EXCLUDE),
        ("myntra", "myntra", "surface", "Men", "benign"),
        ("india-1mg-medicines", "india", "surface", "Tablet", EXCLUDE),
        ("grams-2014-unlabelled", "1776", "darkweb", None, EXCLUDE),
    ],
)
def test_default_policy_follows_labels_md(source, market, kind, category, expected):
    assert POLICY.label_for(source, market, kind, category)[0] == expected


def test_adding_a_class_is_a_data_change(tmp_path: Path):
    text = Path("data/policy/default.toml").read_text()
    text = text.replace('"stolen_data"]', '"stolen_data", "malware"]', 1)
    text += '\n[[rules]]\nmarkets = ["agora"]\ncategories = ["Data/Software"]\nlabel = "malware"\n'
    path = tmp_path / "policy.toml"
    path.write_text(text)
    policy = load_policy(path)
    assert "malware" in policy.labels.names
    assert policy.label_for("a", "agora", "darkweb", "Data/Software")[0] == "malware"
    assert policy.sha256 != POLICY.sha256


def test_bad_policy_names_the_rule(tmp_path: Path):
    path = tmp_path / "bad.toml"
    path.write_text('[policy]\nclasses = ["benign", "drugs"]\n'
                    '[[rules]]\nkinds = ["surface"]\nlabel = "benign"\n'
                    '[[rules]]\nmarkets = ["x"]\nlabel = "weapons"\n')
    with pytest.raises(ValueError, match="rule #2: label 'weapons'"):
        load_policy(path)


AGORA_WEED = ("agora-titles-2014-2015", "agora", "darkweb", "Drugs/Cannabis/Weed")


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Custom listing for J***y", EXCLUDE),
        ("custom order 18", EXCLUDE),
        ("part 2 custom listing for -Hkdss", EXCLUDE),
        ("Listing for napalmx", EXCLUDE),
        ("Custom listing for the minister for cannabis -14g Kosher Kush", "drugs"),
        ("Weight Training For Dummies", EXCLUDE),
        ("How to make MDMA", EXCLUDE),
        ("All Firearm Types - WANTED!!", EXCLUDE),
        ("GLASS METH PIPE - BUY 1 GET 1 FREE!", EXCLUDE),
        ("Hello Kitty Grinder - perfect for ladies!", EXCLUDE),
        ("10 X 1g Vape Pen Cartridges (90% THC)", "drugs"),
        ("3.5 points Meth. WIN a free meth pipe!", "drugs"),
        ("5g Blue Cheese - High Grade", "drugs"),
    ],
)
def test_title_rules_label_what_is_offered(title, expected):
    assert POLICY.label_for(*AGORA_WEED, title)[0] == expected


def test_title_rules_leave_shops_and_untitled_rows_alone():
    assert POLICY.label_for("amazon", "amazon", "surface", "Books", "How to Cook For Dummies")[0] \
        == "benign"
    assert POLICY.label_for(*AGORA_WEED)[0] == "drugs"  # no title: only origin rules can match


def test_an_exclusion_with_a_title_exception_waits_for_the_title(tmp_path: Path):
    """Labelling by origin alone (the build's first pass) must not apply a rule whose
    outcome the title decides: "exclude Services unless the title names a database"."""
    text = Path("data/policy/default.toml").read_text().replace(
        "[[rules]]", '[[rules]]\nmarkets = ["agora"]\ncategories = ["Services"]\n'
        'unless_title = ["database"]\nlabel = "exclude"\n\n[[rules]]\n'
        'markets = ["agora"]\ncategories = ["Services"]\nlabel = "stolen_data"\n\n[[rules]]', 1)
    path = tmp_path / "policy.toml"
    path.write_text(text)
    policy = load_policy(path)
    origin = ("agora-titles", "agora", "darkweb", "Services")
    assert policy.label_for(*origin)[0] == "stolen_data"  # by origin: not yet excluded
    assert policy.label_for(*origin, "Ashley Madison database")[0] == "stolen_data"
    assert policy.label_for(*origin, "Hacking tutorial")[0] == "exclude"


def test_apply_policy_reports_the_rule_note():
    frame = pd.DataFrame({
        "source": ["agora-titles-2014-2015"] * 2, "market": ["agora"] * 2,
        "kind": ["darkweb"] * 2, "category": ["Drugs/Cannabis/Weed"] * 2,
        "title": ["Custom listing for J***y", "5g Blue Cheese"], "label": [None, None],
    })
    kept, dropped = apply_policy(frame, POLICY)
    assert kept["title"].tolist() == ["5g Blue Cheese"]
    [(reason, count)] = dropped.items()
    assert count == 1 and "placeholder: the title names a buyer" in reason


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[[rules]]\nkinds = ["darkweb"]\nwhen_title = ["(unclosed"]\nlabel = "exclude"\n',
         r"rule #1: when_title has an invalid regular expression"),
        ('[[rules]]\nkinds = ["surface"]\nlabel = "benign"\n'
         '[supplements.x]\nlabel = "benign"\nwhen_title = ["a"]\n',
         r"\[supplements.x\]: unknown field\(s\) \['when_title'\]"),
        ('[[rules]]\nkinds = ["darkweb"]\nnote = 3\nlabel = "exclude"\n',
         "rule #1: note must be a string"),
    ],
)
def test_bad_title_rules_are_named(tmp_path: Path, body, message):
    path = tmp_path / "bad.toml"
    path.write_text('[policy]\nclasses = ["benign", "drugs"]\n' + body)
    with pytest.raises(ValueError, match=message):
        load_policy(path)
