"""The keyed records of each source (per staged row: event id, time, party...), kept between builds
(``keys/<sha256>.parquet``), so that a build after an ingest keys only the sources that are new
(timeline/dedup.py).

A record's event id (its key's MD5 and its rank among its source's copies of that key), party, near-duplicate group, dup method and size depend on its own source and on
case.toml alone (never on another source, but for the links of WhatsApp group exports to database
groups, timeline/chatlinks.py), so the keyed rows of a source stay right as long as its staging
file, case.toml's settings, its group links and the code that keys it stay the same. Each key file
records those (its fingerprint; its group chats and links) and the source's span and phone (for the
possibly-deleted check); a build
reuses it only when the fingerprint still matches and the file's SHA-256 is the one manifest.sha256
lists (so a file changed behind the tool's back is never trusted: that source is keyed again).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from commtrail.atomic import PARQUET_OPTIONS, atomic_path
from commtrail.case import Case, CaseConfig
from commtrail.timeline.case_settings import settings_of

KEYS_DIR = "keys"
# Raise when what a keyed row depends on changes outside dedup's keying SQL (which the fingerprint
# holds): the chat identities and one-party chats of dedup._conversation_tables, the group links of
# timeline/chatlinks.py, this file's layout.
VERSION = 2
METADATA_KEY = b"commtrail.keys"
# Rows per row group of a key file: DuckDB reads a file's row groups on as many threads.
KEY_GROUP_ROWS = 131_072

# One keyed record: its row in the staging file and what dedup works out from it alone.
KEY_SCHEMA = pa.schema([
    pa.field("row", pa.uint32()), pa.field("ts", pa.timestamp("us", tz="UTC")), pa.field("channel", pa.string()),
    pa.field("party", pa.string()), pa.field("grp", pa.uint64()), pa.field("size", pa.int64()),
    pa.field("method", pa.string()), pa.field("eid_hi", pa.uint64()), pa.field("eid_lo", pa.uint64()),
])


def key_path(root: Path, sha256: str) -> Path:
    """The key file of the source with this hash."""
    return Path(root) / KEYS_DIR / f"{sha256}.parquet"


def fingerprint(code: str, config: CaseConfig, inputs: object, source: dict, staging_file: Path) -> dict:
    """What the keyed rows of a source depend on: the keying SQL, case.toml's settings and what
    dedup made of them (``inputs``: links and party names), the source's format and its staging
    file (size and modification time: re-staging rewrites it)."""
    stat = staging_file.stat()
    settings = json.dumps([settings_of(config), inputs], ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return {"version": VERSION, "code": hashlib.sha256(code.encode()).hexdigest(),
            "settings": hashlib.sha256(settings.encode()).hexdigest(),
            "format": source["format"], "staging": [stat.st_size, stat.st_mtime_ns]}


def reusable(case: Case, prints: Sequence[dict], shas: Sequence[str]) -> dict[int, dict]:
    """index -> recorded facts (``span``, ``device``, ``groups``, ``links``) of every source whose key file can be used:
    its fingerprint is ``prints[index]`` and the manifest lists its present SHA-256."""
    root = case.root
    listed = manifest_digests(case.manifest_file, lambda rel: rel.startswith(KEYS_DIR + "/"))
    out: dict[int, dict] = {}
    for index, (sha, expected) in enumerate(zip(shas, prints)):
        path = key_path(root, sha)
        rel = f"{KEYS_DIR}/{sha}.parquet"
        if rel not in listed or not path.is_file():
            continue
        try:
            facts = json.loads(pq.read_schema(path).metadata[METADATA_KEY])
        except (OSError, ValueError, KeyError, TypeError, pa.ArrowException):
            continue
        if facts.get("fingerprint") == expected and sha256_of(path) == listed[rel]:
            out[index] = facts
    return out


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def manifest_digests(manifest: Path, wanted: Callable[[str], bool]) -> dict[str, str]:
    """The files manifest.sha256 lists that ``wanted`` accepts: path -> digest (none without a manifest)."""
    if not manifest.is_file():
        return {}
    out = {}
    for line in manifest.read_text(encoding="utf-8").splitlines():
        digest, sep, rel = line.partition("  ")
        if sep and wanted(rel):
            out[rel] = digest
    return out


def vouched(root: Path, manifest: Path, names: Sequence[str]) -> tuple[dict[str, str], str | None]:
    """(name -> SHA-256 of these files of the case at ``root``, the first of them that is absent or
    does not hash to what ``manifest`` lists, or None when the manifest vouches for them all)."""
    listed = manifest_digests(manifest, set(names).__contains__)
    digests = {}
    for name in names:
        path = Path(root) / name
        if not path.is_file() or (digest := sha256_of(path)) != listed.get(name):
            return digests, name
        digests[name] = digest
    return digests, None


def write_keys(root: Path, sha256: str, rows: pa.RecordBatchReader, facts: dict) -> None:
    """Write a source's key file: its keyed rows (KEY_SCHEMA's columns, in row order, written as
    they are read: one row group held at a time) and ``facts`` (``fingerprint``, ``span``,
    ``device``, ``groups``, ``links``)."""
    folder = Path(root) / KEYS_DIR
    folder.mkdir(mode=0o700, exist_ok=True)
    schema = KEY_SCHEMA.with_metadata({METADATA_KEY: json.dumps(facts, sort_keys=True,
                                                                separators=(",", ":")).encode()})
    with atomic_path(key_path(root, sha256)) as tmp, pq.ParquetWriter(tmp, schema, **PARQUET_OPTIONS) as writer:
        for group in regrouped(rows, KEY_GROUP_ROWS):
            writer.write_table(group.cast(schema), row_group_size=KEY_GROUP_ROWS)


def regrouped(reader: pa.RecordBatchReader, rows: int) -> Iterator[pa.Table]:
    """The reader's rows as tables of exactly ``rows`` rows (the last fewer; one empty table when
    it has none), each in one chunk: row groups written from them have the bytes they have when
    written from one table of all the rows."""
    held: list[pa.RecordBatch] = []
    count = 0
    given = False
    for batch in reader:
        held.append(batch)
        count += batch.num_rows
        while count >= rows:
            whole = pa.Table.from_batches(held, schema=reader.schema)
            yield whole.slice(0, rows).combine_chunks()
            given = True
            held, count = whole.slice(rows).to_batches(), count - rows
    if count or not given:
        yield pa.Table.from_batches(held, schema=reader.schema).combine_chunks()


def holds_any(root: Path, sha256: str, event_ids: set[str]) -> bool:
    """Whether the key file of a source holds any of these event ids (32 hex digits)."""
    table = pq.read_table(key_path(root, sha256), columns=["eid_hi", "eid_lo"])
    wanted = {int(eid[:16], 16) for eid in event_ids}
    hit = table.filter(pc.is_in(table["eid_hi"], pa.array(sorted(wanted), pa.uint64())))
    return any(f"{hi:016x}{lo:016x}" in event_ids
               for hi, lo in zip(hit["eid_hi"].to_pylist(), hit["eid_lo"].to_pylist()))


def drop_stale(root: Path, shas: Sequence[str]) -> None:
    """Remove the key files of sources no longer staged."""
    folder = Path(root) / KEYS_DIR
    keep = {f"{sha}.parquet" for sha in shas}
    for path in sorted(folder.glob("*.parquet")) if folder.is_dir() else ():
        if path.name not in keep:
            path.unlink()
