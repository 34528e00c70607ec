"""Source-format parsers, one sub-package per format family (whatsapp, smsbr, email, platforms, ios,
android, evidence) and the incident log's module. Every module and sub-package here (except base,
registry and ``_``-prefixed helpers) registers its parsers in the registry when imported; importing
this package imports them all."""

from __future__ import annotations

import importlib
import pkgutil

NOT_PARSERS = {"base", "registry"}


def parser_modules() -> list[str]:
    """Names of the modules in this package that must register a parser."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__)
                  if m.name not in NOT_PARSERS and not m.name.startswith("_"))


for _name in parser_modules():
    importlib.import_module(f"{__name__}.{_name}")
