"""The fonts of the PDF report (data/report_fonts.toml): the main and monospace fonts, the bundled
fallbacks, and one system font per script, found by file name in the system's font folders.

A script whose font is not found is reported (see :class:`FontChain.missing_notice`), never
silently dropped: its characters are shown as code points by the PDF writer.
"""

from __future__ import annotations

import importlib.util
import os
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

FONT_DIRS_ENV = "COMMTRAIL_FONT_DIRS"


@dataclass
class FontFace:
    key: str           # fpdf2 font family key
    name: str          # human name for the cover
    path: Path
    index: int = 0


@dataclass
class Script:
    name: str
    ranges: list[tuple[int, int]]
    install: str
    face: FontFace | None = None   # the system font found for it, if any

    def has(self, code: int) -> bool:
        return any(lo <= code <= hi for lo, hi in self.ranges)


@dataclass
class FontChain:
    regular: FontFace
    bold: FontFace
    mono: FontFace
    fallbacks: list[FontFace]                                # always loaded, tried first
    scripts: list[Script] = field(default_factory=list)     # each with its system font, if found

    def script_of(self, code: int) -> str | None:
        """The name of the script a code point belongs to (of those in report_fonts.toml)."""
        return next((s.name for s in self.scripts if s.has(code)), None)

    def install_hint(self, script: str) -> str:
        return next(s.install for s in self.scripts if s.name == script)


def _spec() -> dict:
    return tomllib.loads(resources.files("commtrail.data").joinpath("report_fonts.toml").read_text("utf-8"))


def font_dirs() -> list[Path]:
    """The folders searched for system fonts: $COMMTRAIL_FONT_DIRS, else those of report_fonts.toml."""
    given = os.environ.get(FONT_DIRS_ENV)
    names = given.split(os.pathsep) if given is not None else _spec()["system"]["font_dirs"]
    return [Path(n).expanduser() for n in names if n]


@lru_cache(maxsize=8)
def _font_files(dirs: tuple[Path, ...]) -> dict[str, Path]:
    """File name -> first path with that name under ``dirs`` (walked in order, names sorted)."""
    found: dict[str, Path] = {}
    for top in dirs:
        if not top.is_dir():
            continue
        for root, subdirs, files in os.walk(top):
            subdirs.sort()
            for name in sorted(files):
                found.setdefault(name, Path(root) / name)
    return found


def _matplotlib_data() -> Path:
    """matplotlib's data folder (its DejaVu fonts), found without importing matplotlib."""
    return Path(importlib.util.find_spec("matplotlib").origin).with_name("mpl-data")


def font_chain(extra: Sequence[Path] = ()) -> FontChain:
    """The fonts of the report: main, bold, mono, the fallbacks in the order they are tried, and the
    system font found for each script (the PDF writer loads one when its script first appears)."""
    spec = _spec()
    ttf = _matplotlib_data() / "fonts" / "ttf"
    main = spec["main"]
    regular = FontFace("main", main["name"], ttf / main["regular"])
    bold = FontFace("main", main["name"] + " Bold", ttf / main["bold"])
    mono = FontFace("mono", main["name"] + " Mono", ttf / main["mono"])
    fallbacks = []
    for n, entry in enumerate(spec.get("fallback", [])):
        path = _locate(entry)
        if path is not None:
            fallbacks.append(FontFace(f"fb{n}", entry["name"], path, entry.get("index", 0)))
    for n, path in enumerate(extra):
        fallbacks.append(FontFace(f"fx{n}", Path(path).stem, Path(path)))
    files = _font_files(tuple(font_dirs()))
    scripts, by_path = [], {}
    for entry in spec.get("script", []):
        script = Script(entry["name"], [(lo, hi) for lo, hi in entry["ranges"]], entry["install"])
        for wanted in entry["files"]:
            name, _, index = wanted.partition("#")
            if name in files:
                key = (files[name], int(index or 0))
                if key not in by_path:
                    by_path[key] = FontFace(f"fs{len(by_path)}", Path(name).stem, key[0], key[1])
                script.face = by_path[key]
                break
        scripts.append(script)
    return FontChain(regular, bold, mono, fallbacks, scripts)


def _locate(entry: dict) -> Path | None:
    package = entry["package"]
    try:
        root = resources.files(package)
    except (ModuleNotFoundError, TypeError):
        return None
    target = root.joinpath(entry["file"])
    try:
        return Path(str(target)) if target.is_file() else None
    except OSError:
        return None


__all__ = ["FONT_DIRS_ENV", "FontChain", "FontFace", "Script", "font_chain", "font_dirs"]
