"""The leading rows a new master shares with the last one, proven, so that a build after an ingest
copies them from the last master, as bytes (timeline/splice.py), instead of assembling them from
staging (timeline/master.py).

A master row is its event's representative staged row completed with what dedup works out for
its place: event id, party, near duplicates, copies (each a source's hash, path and the staged
row's locator), dup method and exhibit (timeline/assemble.py). A build records after the master
(``keys/master.json``) a digest of that work per row group (DedupSession.group_digests), each copy
named by its source's hash, path and fingerprint (timeline/keys.py: a source keeps its
fingerprint while its staging file stays the same), not by its place among the sources. A later
build keeps the leading row groups whose digests it works out alike, when the record and the
master hold (manifest.sha256, written with both, lists each with its present hash), the master
has the schema and settings of now, and was written by this pyarrow with these options.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from commtrail.atomic import PARQUET_OPTIONS, write_text
from commtrail.case import Case
from commtrail.timeline.keys import KEYS_DIR, vouched
from commtrail.timeline.schema import MASTER_SCHEMA
from commtrail.timeline.splice import can_splice

RECORD_NAME = "master.json"
# Raise when the way a master row is made from its staged row changes (timeline/assemble.py,
# atomic.PARQUET_OPTIONS), what a digest covers (dedup.DedupSession.group_digests), or this
# record's layout.
VERSION = 3


def writer() -> dict:
    """What the master's bytes depend on beside its rows: the pyarrow that writes it and how."""
    return json.loads(json.dumps({"pyarrow": pa.__version__, "options": PARQUET_OPTIONS}))


def record_path(root: Path) -> Path:
    """Where a build records what the master was built from."""
    return Path(root) / KEYS_DIR / RECORD_NAME


def source_tokens(sources: Sequence[dict], prints: Sequence[dict]) -> list[int]:
    """Per source (dedup's order), a number naming its hash, path and fingerprint, for the digests."""
    def token(source: dict, fingerprint: dict) -> int:
        text = json.dumps([source["sha256"], source["path"], fingerprint], sort_keys=True, separators=(",", ":"))
        return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
    return [token(s, fp) for s, fp in zip(sources, prints)]


def write_record(case: Case, digests: Sequence[list[int]]) -> None:
    """Record the digests of the row groups of the master just written. The master's own SHA-256
    is the one manifest.sha256 lists with this record (the caller writes it), so it is not worked
    out here a second time."""
    record = {"version": VERSION, "writer": writer(), "groups": [list(d) for d in digests]}
    path = record_path(case.root)
    path.parent.mkdir(mode=0o700, exist_ok=True)
    write_text(json.dumps(record, sort_keys=True, separators=(",", ":")), path)


def shared_groups(case: Case, digests: Sequence[list[int]], rows: int, metadata: dict) -> int:
    """How many leading row groups of the present master the new one holds alike (each of ``rows``
    rows; timeline/splice.py copies them), given the digests of this build's row groups and
    ``metadata``, the new master's."""
    recorded = _recorded_digests(case)
    if not recorded or not case.master_file.is_file():
        return 0
    old = pq.ParquetFile(case.master_file)
    schema = MASTER_SCHEMA.with_metadata(metadata)
    if not old.schema_arrow.equals(schema) or old.schema_arrow.metadata != schema.metadata:
        return 0
    same = 0
    for group, (was, now) in enumerate(zip(recorded, digests)):
        if group >= old.num_row_groups or old.metadata.row_group(group).num_rows != rows or \
                list(was) != list(now) or now[0] != rows:
            break
        same += 1
    return same if same and can_splice(case.master_file) else 0


def _recorded_digests(case: Case) -> list | None:
    """The digests the present master was recorded with, when the record and the master are
    vouched for and were written as this build writes it (None otherwise)."""
    path = record_path(case.root)
    if vouched(case.root, case.manifest_file, (f"{KEYS_DIR}/{RECORD_NAME}", case.master_file.name))[1] is not None:
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return None
    if not isinstance(record, dict) or record.get("version") != VERSION or record.get("writer") != writer():
        return None
    groups = record.get("groups")
    return groups if isinstance(groups, list) and all(isinstance(g, list) for g in groups) else None
