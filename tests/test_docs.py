"""The README's command reference matches `--help`; every command has help text."""

from pathlib import Path

from commtrail.cli import build_parser
from commtrail.cli_reference import splice

README = Path(__file__).parent.parent / "README.md"


def test_readme_reference_is_current():
    text = README.read_text(encoding="utf-8")
    assert splice(text) == text, "README command reference is stale: run `make docs`"


def test_readme_starts_with_the_two_commands():
    head = README.read_text(encoding="utf-8").splitlines()[:5]
    assert any("make demo" in line for line in head) and any("make test" in line for line in head)


def test_every_command_has_help():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    helps = {c.dest: c.help for c in sub._choices_actions}
    assert set(helps) == set(sub.choices)
    assert all(helps.values())
