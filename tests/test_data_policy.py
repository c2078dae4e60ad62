from pathlib import Path

import pytest

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
