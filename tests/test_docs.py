"""The documentation's `contraband` commands must still parse with the current CLI.

The README and training/EXPERIMENTS.md quote many commands (which figure came from which
command is how a reader reproduces it), and options get renamed. This reads every command
in their code blocks and inline code and parses it with the real argument parser (and, for
``train``, the check that refuses options the model kind would ignore); it runs nothing.
Commands written as templates (``--seed N``, ``NAME``, ``[--a | --b]``) are skipped: they
are not meant to be pasted.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from cli.main import build_parser
from training.commands import refuse_options_for_other_kinds

ROOT = Path(__file__).resolve().parents[1]
DOCS = ("README.md", "training/EXPERIMENTS.md")
PROGRAM = re.compile(r"^(?:\.venv/bin/)?contraband\s")
INLINE = re.compile(r"`((?:\.venv/bin/)?contraband [^`]+)`")
SUBCOMMAND_WORDS = re.compile(r"^[a-z][a-z-]*$")
TEMPLATE = re.compile(r"[\[\]|<>…]|\.\.\.|(?:^|\s)[A-Z][A-Z0-9_]*(?:\s|$|,)")


def _fenced_commands(text: str) -> list[str]:
    """Commands in fenced code blocks, with backslash continuations joined, comments cut."""
    found, inside, pending = [], False, ""
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            inside, pending = not inside, ""
            continue
        if not inside:
            continue
        line = pending + line.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        line = " ".join(re.sub(r"\s+#.*$", "", line).split())
        if PROGRAM.match(line):
            found.append(line)
    return found


def _inline_commands(text: str) -> list[str]:
    prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return [" ".join(m.group(1).split()) for m in INLINE.finditer(prose)]


def documented_commands() -> list[tuple[str, str]]:
    commands = []
    for doc in DOCS:
        text = (ROOT / doc).read_text(encoding="utf-8")
        for command in _fenced_commands(text) + _inline_commands(text):
            if TEMPLATE.search(command):
                continue
            commands.append((doc, command))
    return commands


COMMANDS = documented_commands()


def test_the_docs_quote_commands():
    fenced = _fenced_commands((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(fenced) >= 10, fenced
    assert len(COMMANDS) >= 50


@pytest.mark.parametrize(("doc", "command"), COMMANDS,
                         ids=[f"{d}:{c[:60]}" for d, c in COMMANDS])
def test_documented_command_parses(doc: str, command: str):
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            args = build_parser().parse_args(shlex.split(command)[1:])
        if args.command == "train":  # what `contraband train` refuses before any work
            refuse_options_for_other_kinds(args)
    except ValueError as exc:
        pytest.fail(f"{doc}: `{command}` is refused: {exc}")
    except SystemExit as exc:
        if not exc.code:
            return
        last = errors.getvalue().strip().splitlines()[-1]
        argv = shlex.split(command)[1:]
        if "arguments are required" in last and all(SUBCOMMAND_WORDS.match(a) for a in argv):
            return  # "`contraband adapt`" in a sentence names a command; it is not one to run
        pytest.fail(f"{doc}: `{command}` no longer parses: {last}")


def test_a_renamed_option_is_caught():
    with pytest.raises(SystemExit), contextlib.redirect_stderr(io.StringIO()):
        build_parser().parse_args(["train", "--model", "baseline", "--no-such-option"])
    assert _fenced_commands("```bash\ncontraband train \\\n  --seed 1  # note\n```") == [
        "contraband train --seed 1"]
