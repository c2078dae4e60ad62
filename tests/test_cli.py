import pytest

from cli.main import build_parser, main

COMMANDS = [
    ["models", "list"], ["data", "build"], ["data", "stats"], ["train"], ["evaluate"],
    ["serve"], ["scan"], ["explain"], ["feedback", "export"], ["apikey", "create"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: contraband" in capsys.readouterr().out


def test_parser_lists_every_command():
    parser = build_parser()
    text = parser.format_help()
    for name in ("data", "train", "evaluate", "serve", "scan", "models", "explain"):
        assert name in text


def test_missing_bundle_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CONTRABAND_MODELS", str(tmp_path))
    assert main(["evaluate", "nope", "--dataset", str(tmp_path)]) == 2
    assert "no bundle called 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "expected"),
    [([], None), (["--no-supplements"], ()),
     (["--supplement", "darknet-benign", "--supplement", "licensed-pharmacy"],
      ("darknet-benign", "licensed-pharmacy"))],
)
def test_train_supplement_options(flags, expected):
    from training.supplement_options import supplements_from_args

    assert supplements_from_args(build_parser().parse_args(["train", *flags])) == expected


def test_train_supplement_options_conflict_and_a_cascade_refuses_them(tmp_path, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--supplement", "x", "--no-supplements"])
    assert "not allowed with argument" in capsys.readouterr().err
    code = main(["train", "--model", "cascade", "--no-supplements", "--dataset", str(tmp_path)])
    assert code == 2
    assert "a cascade combines bundles already trained" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "refused"),
    [(["--model", "transformer", "--group-weight-power", "1", "--C", "2"],
      "--model transformer does not use --C, --group-weight-power"),
     (["--model", "transformer", "--hard-negative-weight", "1"], "--hard-negative-weight"),
     (["--model", "cascade", "--lookalike-copies", "1"],
      "--model cascade does not use --lookalike-copies"),
     (["--model", "cascade", "--cue-words", "5"], "--model cascade does not use --cue-words"),
     (["--model", "baseline", "--layers", "4"], "--model baseline does not use --layers"),
     (["--model", "cascade", "--augment", "0.5", "--seed", "3"],
      "--model cascade does not use --augment, --seed"),
     (["--cascade-tolerance", "0.01"], "--model baseline does not use --cascade-tolerance")],
)
def test_train_refuses_options_the_model_kind_would_ignore(flags, refused, tmp_path, capsys):
    # refused before the dataset is looked for: tmp_path holds none
    assert main(["train", *flags, "--dataset", str(tmp_path)]) == 2
    assert refused in capsys.readouterr().err


@pytest.mark.parametrize(
    "flags",
    [["--model", "transformer", "--augment", "0.5", "--register", "1.5", "--seed", "1",
      "--block-precision", "0.9", "--layers", "4", "--cue-words", "10",
      "--lookalike-copies", "1"],
     ["--model", "baseline", "--augment", "0.5", "--seed", "1", "--C", "2",
      "--cue-words", "5", "--cue-precision", "0.95"],
     ["--model", "cascade", "--cascade-tolerance", "0.01", "--name", "c"],
     # an option given at its default value changes nothing, so it is not refused
     ["--model", "transformer", "--C", "0.5"]],
)
def test_train_accepts_the_options_its_model_kind_reads(flags):
    from training.commands import refuse_options_for_other_kinds

    refuse_options_for_other_kinds(build_parser().parse_args(["train", *flags]))
