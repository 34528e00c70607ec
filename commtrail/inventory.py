"""The case's source inventory, ``sources.parquet``: one row per ingested input."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path, PurePath

import pyarrow as pa
import pyarrow.parquet as pq

from commtrail.atomic import write_table
from commtrail.timeline.schema import REJECT_SCHEMA

SOURCES_SCHEMA = pa.schema([
    pa.field("sha256", pa.string()),
    pa.field("path", pa.string()),
    # where the bytes came from on disk: "resolved path|size|mtime_ns", with "!member" for archive
    # members; an input with the same key is skipped without being read again
    pa.field("disk_key", pa.string()),
    pa.field("size", pa.int64()),
    pa.field("format", pa.string()),
    pa.field("parser", pa.string()),
    pa.field("records", pa.int64()),
    pa.field("rejects", pa.int64()),
    pa.field("repairs", pa.int64()),
    pa.field("declared_count", pa.int64()),
    pa.field("warnings", pa.list_(pa.string())),
    pa.field("container", pa.string()),
    pa.field("copied", pa.bool_()),
    pa.field("ingested_at", pa.timestamp("s", tz="UTC")),
    # the file, folder or archive named on the command line that this source was found in (null in
    # cases ingested before it was recorded)
    pa.field("input", pa.string()),
])


def read_inventory(path: Path) -> list[dict]:
    """The inventory rows, oldest first (empty when nothing was ingested yet)."""
    if not path.exists():
        return []
    return pq.read_table(path, schema=SOURCES_SCHEMA).to_pylist()


def write_inventory(path: Path, rows: list[dict]) -> None:
    """Rewrite the inventory atomically."""
    table = pa.Table.from_pylist(rows, schema=SOURCES_SCHEMA)
    write_table(table, path)


def generated_sha256(name: str) -> str:
    """The stand-in hash of a generated source (one with no input file): the SHA-256 of its name."""
    return hashlib.sha256(name.encode()).hexdigest()


def stage_generated(staging: Path, name: str, table: pa.Table, fmt: str, parser: str,
                    ingested_at: datetime, size: int = 0) -> dict:
    """Stage ``table`` as the records of a generated source called ``name``, with an empty rejects
    file, and return its inventory row. For test cases, benchmarks and fixtures built without an
    ingest; ``table``'s ``source_sha256`` must be ``generated_sha256(name)``."""
    sha = generated_sha256(name)
    write_table(table, staging / f"{sha}.parquet")
    write_table(REJECT_SCHEMA.empty_table(), staging / f"{sha}.rejects.parquet")
    return {"sha256": sha, "path": name, "disk_key": None, "size": size, "format": fmt, "parser": parser,
            "records": table.num_rows, "rejects": 0, "repairs": 0, "declared_count": None, "warnings": [],
            "container": None, "copied": False, "ingested_at": ingested_at}


def shown_paths(paths: list[str], given: dict[str, str | None] | None = None) -> dict[str, str]:
    """How the report and the ingest summary name each source, never showing the user's own folders:
    its path relative to the folder named on the command line (``given``: path -> that input), or
    the given file's name (with ``!member`` inside an archive); for a source whose input is not
    known, its path relative to the folder all such sources share. The full path stays in
    sources.parquet and the master."""
    given = given or {}
    out, rest = {}, []
    for path in paths:
        shown = _relative_to_input(path, given.get(path))
        if shown is None:
            rest.append(path)
        else:
            out[path] = shown
    folders = [PurePath(p.split("!", 1)[0]).parent.parts for p in rest if PurePath(p.split("!", 1)[0]).is_absolute()]
    common: tuple[str, ...] = ()
    if folders:
        common = folders[0]
        for parts in folders[1:]:
            n = 0
            while n < min(len(common), len(parts)) and common[n] == parts[n]:
                n += 1
            common = common[:n]
    for path in rest:
        head, bang, member = path.partition("!")
        parts = PurePath(head).parts
        if PurePath(head).is_absolute() and parts[:len(common)] == common:
            head = "/".join(parts[len(common):])
        out[path] = head + bang + member
    return out


def _relative_to_input(path: str, given: str | None) -> str | None:
    if not given:
        return None
    head, bang, member = path.partition("!")
    if PurePath(head) == PurePath(given):
        return PurePath(given).name + bang + member
    try:
        return PurePath(head).relative_to(PurePath(given)).as_posix() + bang + member
    except ValueError:
        return None


def source_name(shown: str) -> str:
    """The file name of a source (of the member, inside an archive)."""
    return shown.rsplit("!", 1)[-1].replace("\\", "/").rsplit("/", 1)[-1]
