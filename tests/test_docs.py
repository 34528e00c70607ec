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


DESIGN = Path(__file__).parent.parent / "docs" / "design.md"


def test_docs_point_nowhere_outside_the_repository():
    for path in (README, DESIGN):
        text = path.read_text(encoding="utf-8")
        assert "../shared" not in text and "shared/DESIGN" not in text, path
    assert "docs/design.md" in README.read_text(encoding="utf-8")


def _command_rows(text: str) -> dict[str, str]:
    """command name -> its row, from the design's command table."""
    import re
    return {m.group(1): m.group(0) for m in re.finditer(r"^\| `commtrail (\w+)[^|]*\|.*$", text, re.M)}


def test_design_lists_every_command_and_marks_the_planned_ones():
    text = DESIGN.read_text(encoding="utf-8")
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    assert set(_command_rows(text)) == set(sub.choices)          # the table holds what exists
    planned = text[text.index("**Planned** (not in the code yet)"):].split("\n\n")[0]
    assert not [name for name in sub.choices if f"`commtrail {name}" in planned or f"(`{name}`" in planned]


def test_design_names_every_parser_module_and_parser():
    from commtrail import parsers
    from commtrail.parsers import registry
    text = DESIGN.read_text(encoding="utf-8")
    root = Path(parsers.__file__).parent
    for module in parsers.parser_modules():
        if (root / module).is_dir():                 # a format family's sub-package: it and its modules
            assert f"`{module}/`" in text, module
            for path in sorted((root / module).glob("*.py")):
                assert f"`{path.name}`" in text, f"{module}/{path.name}"
        else:
            assert f"`{module}.py`" in text, module
    for helper in sorted(root.glob("_*.py")):        # every private helper is named beside its parser
        if helper.name != "__init__.py":
            assert f"`{helper.name}`" in text, helper.name
    for p in registry.all_parsers():
        if p.parse.__module__.startswith("commtrail.parsers."):   # not a test's own parser
            assert f"`{p.name}`" in text, p.name


def test_quick_start_states_prerequisites_adds_the_incident_log_and_ends_with_report():
    text = README.read_text(encoding="utf-8")
    quick = text[text.index("## Quick start"):text.index("## What it reads")]
    assert "`make`" in quick and "Python 3.11 or newer with its `venv` module" in quick
    assert "700 MB of disk" in quick and "160 MB of packages downloaded" in quick
    block = quick[quick.index("```sh"):quick.index("```", quick.index("```sh") + 5)]
    commands = [line for line in block.splitlines() if line.startswith((".venv/bin/", "make", "mkdir"))]
    assert commands[-1].startswith(".venv/bin/commtrail report my-case")
    assert "fill in my-case/incident-log/incidents.csv" in block   # the template `init` wrote
    assert any(line.endswith(" my-case/incident-log/") and "commtrail ingest" in line for line in commands)
