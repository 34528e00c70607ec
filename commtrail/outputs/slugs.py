"""File-name parts of party names (no heavy imports: a bundle that takes its kept files needs them
without the analysis)."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence

from commtrail.case import CaseConfig
from commtrail.outputs.labels import UNKNOWN


def party_names(config: CaseConfig) -> list[str]:
    """The names of the parties of case.toml, in its order."""
    return [p.name for p in config.parties]


def slug(name: str) -> str:
    """A file-name-safe form of a party name."""
    if name == UNKNOWN:
        return "unknown"
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return text or "party"


def case_slugs(config: CaseConfig, more: Sequence[str] = ()) -> dict[str, str]:
    """The file-name part of every party of case.toml, of the unlisted group and of ``more``."""
    return party_slugs(party_names(config) + [UNKNOWN] + list(more))


def party_slugs(names: list[str]) -> dict[str, str]:
    """A distinct file-name part per name: its slug, plus a short hash of the name when another
    name has the same slug ("Jordan K" and "Jordan-K"), so no output overwrites another's whatever
    the order of the names."""
    counts = Counter(slug(name) for name in dict.fromkeys(names))
    return {name: slug(name) if counts[slug(name)] == 1 else
            f"{slug(name)}-{hashlib.sha256(name.encode('utf-8')).hexdigest()[:8]}" for name in names}
