"""The shape of the code: one-way imports between stages, every parser module registered."""

import ast
import importlib
from pathlib import Path

import commtrail
from commtrail import parsers
from commtrail.parsers import registry

ROOT = Path(commtrail.__file__).parent
# stage -> the commtrail modules it must never import (DESIGN.md: ingest -> parsers -> timeline;
# outputs read the timeline; nothing reaches back up).
FORBIDDEN = {
    "timeline": ("commtrail.parsers", "commtrail.ingest", "commtrail.outputs", "commtrail.cli", "commtrail.pipeline"),
    "parsers": ("commtrail.ingest", "commtrail.outputs", "commtrail.case", "commtrail.cli", "commtrail.pipeline"),
    "outputs": ("commtrail.ingest", "commtrail.parsers", "commtrail.cli", "commtrail.pipeline"),
    "ingest": ("commtrail.outputs", "commtrail.cli", "commtrail.pipeline"),
    # the reviewer's work sits beside outputs: it reads the timeline and keeps the manifest current
    "review": ("commtrail.ingest", "commtrail.parsers", "commtrail.cli"),
    # the review app reads the master and writes only through review/
    "serve": ("commtrail.ingest", "commtrail.parsers", "commtrail.cli", "commtrail.pipeline"),
}


def imports_of(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)   # a module imported by name
    return names


def test_imports_go_one_way():
    bad = []
    for stage, forbidden in FORBIDDEN.items():
        for path in sorted((ROOT / stage).rglob("*.py")):
            for name in imports_of(path):
                if name.startswith(forbidden):
                    bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert bad == []


def test_package_level_modules_below_the_stages_do_not_import_them():
    for module in ("case.py", "atomic.py", "inventory.py", "errors.py", "blobs.py"):
        names = imports_of(ROOT / module)
        assert not [n for n in names if n.startswith(("commtrail.parsers", "commtrail.ingest",
                                                      "commtrail.outputs", "commtrail.cli"))], module


def test_every_parser_module_registers_a_parser():
    registered_modules = {p.parse.__module__ for p in registry.all_parsers()}
    for name in parsers.parser_modules():
        module = importlib.import_module(f"commtrail.parsers.{name}")
        # a format family's sub-package registers its parsers from the modules inside it
        assert any(m == module.__name__ or m.startswith(module.__name__ + ".") for m in registered_modules), \
            f"{name} does not register a parser"


def test_a_helper_at_parsers_level_is_shared_by_two_families_or_more():
    # a format family's own helpers live in its sub-package; only what several families use stays beside
    # base.py and registry.py (design.md, "Parsers")
    root = ROOT / "parsers"
    families = {name: sorted((root / name).rglob("*.py")) if (root / name).is_dir() else [root / f"{name}.py"]
                for name in parsers.parser_modules()}
    helpers = sorted(p.stem for p in root.glob("_*.py") if p.name != "__init__.py")
    assert "_sqlite" in helpers   # the one today: ios/ and android/ read SQLite through it
    for helper in helpers:
        users = {family for family, paths in families.items()
                 if any(f"commtrail.parsers.{helper}" in imports_of(path) for path in paths)}
        assert len(users) >= 2, \
            f"{helper} is used by {sorted(users)} only: move it into that family"


def test_registry_refuses_a_duplicate_name():
    import pytest
    parser = registry.Parser("duplicate-probe", "1", "probe", lambda head, name: False, lambda s, c: iter(()))
    registry.register(parser)
    try:
        with pytest.raises(ValueError, match="'duplicate-probe' is registered twice"):
            registry.register(parser)
    finally:
        registry._REGISTRY.pop("duplicate-probe")
