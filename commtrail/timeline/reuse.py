"""The leading rows a new master shares with the last one, proven, so that a build after an ingest
copies them from the last master, as bytes (timeline/splice.py), instead of assembling them from
staging (timeline/master.py).

A build records after the master (``keys/master.json``) the fingerprint of every source it was
built from (timeline/keys.py). A later build trusts a row of that master only when the record and
the master hold (manifest.sha256, written with both, lists each with its present hash; the master
has the settings of now), the representative and every copy the row names come from sources
whose fingerprint is the one recorded (so the staged row it holds is the one staging holds now),
and the row holds what this build works out for its place: event id, the representative's
source, party, near duplicates, occurrences, dup method and exhibit. Whole row groups
(assemble.MasterWriter) are kept, up to the first one holding a row that differs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from commtrail.atomic import write_text
from commtrail.case import Case
from commtrail.timeline import assemble
from commtrail.timeline.assemble import Sources
from commtrail.timeline.keys import KEYS_DIR, vouched
from commtrail.timeline.schema import MASTER_SCHEMA, dumps_extra

RECORD_NAME = "master.json"
# Raise when the way a master row is made from its staged row changes (timeline/assemble.py), or
# this record's layout.
VERSION = 2
# The master's columns a row is checked by (the others are the staged row's, as staging holds it).
COMPARED = ["event_id", "source_sha256", "party", "dup_method", "exhibit", "occurrences", "extra"]


def record_path(root: Path) -> Path:
    """Where a build records what the master was built from."""
    return Path(root) / KEYS_DIR / RECORD_NAME


def write_record(case: Case, shas: Sequence[str], prints: Sequence[dict]) -> None:
    """Record the fingerprint of each source (by hash) the master just written was built from. The
    master's own SHA-256 is the one manifest.sha256 lists with this record (the caller writes it), so
    it is not worked out here a second time."""
    record = {"version": VERSION, "prints": dict(zip(shas, prints))}
    path = record_path(case.root)
    path.parent.mkdir(mode=0o700, exist_ok=True)
    write_text(json.dumps(record, sort_keys=True, separators=(",", ":")), path)


def shared_groups(case: Case, numbered: Callable[[], pa.RecordBatchReader], named: Sources, shas: Sequence[str],
                  prints: Sequence[dict], metadata: dict) -> int:
    """How many leading row groups of the present master the new one holds alike (each of
    assemble.ROW_GROUP_ROWS rows; timeline/splice.py copies them).

    ``numbered()`` gives every event of this build in exhibit order (src, event_id, party, near,
    copies, dup_method, exhibit; DedupSession.numbered_reader; called only when some source is
    proven, as it sorts every event); ``shas`` and ``prints`` are the
    sources in dedup's order and their fingerprints; ``metadata`` the new master's."""
    proven = _proven_sources(case, shas, prints)
    if not proven.any():
        return 0
    old = pq.ParquetFile(case.master_file)
    if old.schema_arrow.metadata != MASTER_SCHEMA.with_metadata(metadata).metadata:
        return 0
    size = assemble.ROW_GROUP_ROWS
    new = _in_groups(numbered(), size)
    for group in range(old.num_row_groups):
        rows = next(new, None)
        if old.metadata.row_group(group).num_rows != size or rows is None or rows.num_rows != size:
            return group
        if not _same_rows(old.read_row_group(group, columns=COMPARED), rows, named, proven):
            return group
    return old.num_row_groups


def _proven_sources(case: Case, shas: Sequence[str], prints: Sequence[dict]) -> np.ndarray:
    """Per source (dedup's order), whether the present master was built from its present staging."""
    none = np.zeros(len(shas), bool)
    path = record_path(case.root)
    if vouched(case.root, case.manifest_file, (f"{KEYS_DIR}/{RECORD_NAME}", case.master_file.name))[1] is not None:
        return none
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return none
    if not isinstance(record, dict) or record.get("version") != VERSION:
        return none
    recorded = record.get("prints")
    if not isinstance(recorded, dict):
        return none
    return np.array([recorded.get(sha) == fp for sha, fp in zip(shas, prints)], bool)


def _in_groups(reader: pa.RecordBatchReader, rows: int) -> Iterator[pa.Table]:
    """The reader's rows as tables of ``rows`` rows (the last one fewer)."""
    held: list[pa.RecordBatch] = []
    count = 0
    for batch in reader:
        held.append(batch)
        count += batch.num_rows
        while count >= rows:
            whole = pa.Table.from_batches(held)
            yield whole.slice(0, rows)
            held = whole.slice(rows).to_batches()
            count -= rows
    if count:
        yield pa.Table.from_batches(held)


def _same_rows(old: pa.Table, new: pa.Table, named: Sources, proven: np.ndarray) -> bool:
    """Whether the old master's rows are what this build makes of the events ``new`` numbers alike."""
    src = new.column("src").to_numpy()
    copies = new.column("copies").combine_chunks()
    copy_src = (copies.flatten().to_numpy() >> np.uint64(32)).astype(np.int64)
    if not (proven[src].all() and proven[copy_src].all()):
        return False
    pairs = [(old.column("event_id"), new.column("event_id")),
             (old.column("source_sha256"), named.shas.take(pa.array(src))),
             (old.column("party"), new.column("party")), (old.column("dup_method"), new.column("dup_method")),
             (old.column("exhibit"), new.column("exhibit"))]
    if not all(_equal(a, b) for a, b in pairs):
        return False
    return _same_occurrences(old.column("occurrences").combine_chunks(), named.occurrences(copies)) and \
        _same_extra(old.column("extra").combine_chunks(), new.column("near").combine_chunks())


def _equal(a: pa.ChunkedArray | pa.Array, b: pa.ChunkedArray | pa.Array) -> bool:
    """The same values and nulls, as text."""
    return _plain(a).equals(_plain(b))


def _plain(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    return values.cast(pa.string())


def _same_occurrences(old: pa.ListArray, new: pa.ListArray) -> bool:
    """The same copies (source hash, path and locator), in the same order."""
    if not pc.list_value_length(old).equals(pc.list_value_length(new)) or old.null_count or new.null_count:
        return False
    a, b = old.flatten(), new.flatten()
    return all(_plain(a.field(name)).equals(_plain(b.field(name)))
               for name in ("source_sha256", "source_path", "locator"))


def _same_extra(old: pa.Array, near: pa.Array) -> bool:
    """Whether the old ``extra`` is what assemble.with_near_duplicates makes of the staged one with
    ``near``: without near duplicates the staged text untouched (so it names none), with them the
    old text with the new list in its place, written alike."""
    linked = near.is_valid()
    if pc.any(pc.match_substring(pc.filter(old, pc.invert(linked)), '"near_duplicates"')).as_py():
        return False
    for text, ids in zip(pc.filter(old, linked).to_pylist(), pc.filter(near, linked).to_pylist()):
        try:
            fields = json.loads(text) if text else {}
        except ValueError:
            return False
        fields["near_duplicates"] = ids
        if dumps_extra(fields) != text:
            return False
    return True
