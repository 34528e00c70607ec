"""The bundle's generated files kept in the case, to be taken again by the next bundle while nothing
they are made from has changed.

The report, the transcripts and the exports of a bundle take most of its time and depend only on
the case's files, the program and its fonts. After writing them, a bundle keeps a copy in
``CASE/report/bundle/<scope>/`` with ``inputs.json``: the SHA-256 of every case file they are read
from (case.toml, the master, the inventory, the possibly-deleted list, the productions while the
master is not numbered in time order, the annotations, the screenshot links, every rejects file,
and the names present in originals/ and blobs/), the code of
commtrail itself, the versions of the libraries that write them, the fonts found, the bundle command with its
options, and the SHA-256
of each kept file. The next bundle of the same scope takes the copies only when all of that is
identical and each copy still has its hash (checked while copying); otherwise it writes them anew.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from commtrail.atomic import write_text
from commtrail.case import CASE_FILE, Case
from commtrail.outputs.manifest import sha256_file
from commtrail.timeline.produced import PRODUCTIONS_FILE, merged_numbers, numbered_in_time_order, read_numbering
from commtrail.timeline.screenshots import LINKS_FILE

INPUTS = "inputs.json"
IN_TIME_ORDER = "numbered in time order"   # productions.jsonl's input while nothing states it
CASE_INPUTS = (CASE_FILE, "master.parquet", "sources.parquet", "possibly_deleted.parquet", PRODUCTIONS_FILE,
               "annotations.jsonl", LINKS_FILE)
LIBRARIES = ("fpdf2", "uharfbuzz", "matplotlib", "openpyxl", "pyarrow", "numpy", "tzdata")


def cache_dir(case: Case, scope: str) -> Path:
    """Where the bundle of ``scope`` (a party's slug, or ``all``) keeps its generated files."""
    return case.report_dir / "bundle" / scope


@lru_cache(maxsize=1)
def _program() -> str:
    """SHA-256 over commtrail's own files (code and data), so a changed program never reuses."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _libraries() -> dict[str, str]:
    out = {}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def _fonts() -> list[list]:
    """Each font file the report could embed: path, size and modification time."""
    from commtrail.outputs.report_fonts import font_chain
    chain = font_chain()
    faces = [chain.regular, chain.bold, chain.mono, *chain.fallbacks,
             *(s.face for s in chain.scripts if getattr(s, "face", None) is not None)]
    out = []
    for face in faces:
        stat = Path(face.path).stat()
        out.append([str(face.path), stat.st_size, stat.st_mtime_ns])
    return out


def case_inputs(case: Case, names: tuple[str, ...] = CASE_INPUTS, everything: bool = True) -> dict:
    """The SHA-256 of the case files ``names`` (None for one that is absent), the program and its
    libraries; with ``everything`` also the rejects files, the names present in originals/ and
    blobs/ and the fonts (what a report and a transcript read besides)."""
    files = {}
    for name in names:
        path = case.root / name
        files[name] = sha256_file(path) if path.is_file() else None
    if (PRODUCTIONS_FILE in files and case.master_file.is_file() and numbered_in_time_order(case.master_file)
            and not merged_numbers(*read_numbering(case.root))):
        files[PRODUCTIONS_FILE] = IN_TIME_ORDER   # what the outputs say of numbering then needs no production
    out: dict = {"program": _program(), "libraries": _libraries(), "files": files}
    if everything:
        for path in sorted(case.staging.glob("*.rejects.parquet")):
            files[f"staging/{path.name}"] = sha256_file(path)
        out["present"] = {folder: sorted(p.name for p in (case.root / folder).iterdir())
                          if (case.root / folder).is_dir() else [] for folder in ("originals", "blobs")}
        out["fonts"] = _fonts()
        out["font_dirs"] = os.environ.get("COMMTRAIL_FONT_DIRS")
    return out


def inputs_of(known: dict, scope: str, command: str) -> dict:
    """Everything the report, transcripts and exports of ``scope`` are made from (``known``, from
    :func:`case_inputs`), with the bundle's ``command`` (its options choose what they hold)."""
    return {"scope": scope, "command": command, **known}


def read_record(path: Path, inputs: dict) -> dict[str, str] | None:
    """The files (path -> SHA-256) a record (``inputs.json`` here, ``report/inputs/*.json`` in
    current.py) lists, when it says they were made from exactly ``inputs``; None otherwise."""
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(kept, dict) or kept.get("inputs") != inputs or not isinstance(kept.get("files"), dict):
        return None
    return kept["files"]


def write_record(path: Path, inputs: dict, hashes: dict[str, str]) -> None:
    """Record that the files ``hashes`` names were made from exactly ``inputs``."""
    write_text(json.dumps({"inputs": inputs, "files": hashes}, indent=1, sort_keys=True) + "\n", path)


def copy_checked(copies: list[tuple[Path, Path, str]]) -> bool:
    """Copy each (source, target, SHA-256), hashing while copying; False, with the targets copied so
    far removed, when a source is missing or does not have its hash."""
    from commtrail.outputs.bundle import copy_hashed
    copied = []
    for source, target, digest in copies:
        if not source.is_file():
            break
        target.parent.mkdir(parents=True, exist_ok=True)
        copied.append(target)
        if copy_hashed(source, target)[0] != digest:
            break
    else:
        return True
    for target in copied:
        target.unlink(missing_ok=True)
    return False


def take(case: Case, scope: str, inputs: dict, data: Path) -> dict[str, str] | None:
    """Copy the kept files of ``scope`` into the payload folder ``data`` when they were made from
    exactly ``inputs`` and each still has its hash; their hashes (path under ``data`` -> SHA-256),
    or None (and nothing left behind) otherwise."""
    folder = cache_dir(case, scope)
    files = read_record(folder / INPUTS, inputs)
    if files is None:
        return None
    made = sorted({data / rel.split("/")[0] for rel in files if "/" in rel})
    if any(top.exists() for top in made):
        return None
    if copy_checked([(folder / rel, data / rel, digest) for rel, digest in sorted(files.items())]):
        return dict(files)
    for top in made:   # nothing taken is left behind, the folders made for it neither
        shutil.rmtree(top, ignore_errors=True)
    return None


def keep(case: Case, scope: str, inputs: dict, data: Path, files: list[str]) -> tuple[Path, dict[str, str]]:
    """Keep copies of ``files`` (paths under ``data``) for the next bundle of ``scope``; returns the
    folder and each file's SHA-256 (computed while copying)."""
    from commtrail.outputs.bundle import copy_hashed
    folder = cache_dir(case, scope)
    shutil.rmtree(folder, ignore_errors=True)
    hashes = {}
    for rel in files:
        (folder / rel).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        hashes[rel] = copy_hashed(data / rel, folder / rel)[0]
    write_record(folder / INPUTS, inputs, hashes)
    return folder, hashes
