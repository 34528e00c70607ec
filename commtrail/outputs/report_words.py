"""The report's wording, read from ``data/report_en.toml`` (wording lives in data, not code)."""

from __future__ import annotations

import tomllib
from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=1)
def words() -> dict:
    """Headings, labels, sentence templates and the certification template."""
    text = resources.files("commtrail.data").joinpath("report_en.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)
