"""``annotations.jsonl``: the reviewer's stars, tags and notes on events, an append-only hash chain.

Each line is one change to one event, compact JSON with sorted keys, UTF-8, ``\\n``-ended::

    {"change":{"star":true},"event_id":"…","prev":"<sha256>","written":"2026-03-01T10:00:00Z"}

``prev`` is the SHA-256 (hex) of the previous line's bytes, its ``\\n`` included (the first line:
the SHA-256 of no bytes). Nothing is ever rewritten: an undo is a new line, and the state of an
event is the fold of its lines in file order (a later line wins, key by key). An edited or removed
line breaks the chain at the line after it, which :func:`check_annotations` names.

Annotations are the reviewer's, not evidence: they never change the master.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pyarrow.parquet as pq

from commtrail.atomic import fsync_dir
from commtrail.case import Case
from commtrail.errors import EXIT_USAGE, CommtrailError, UsageError

ANNOTATIONS_FILE = "annotations.jsonl"
CHANGE_KEYS = ("star", "tags", "note")
GENESIS = hashlib.sha256(b"").hexdigest()

# Two threads of one process (the review server) share a Case object, whose lock lets its own
# holder in again; this keeps their appends one after the other.
_APPENDING = threading.Lock()


class AnnotationError(CommtrailError):
    """An annotation that cannot be written: a wrong change, an unknown event, a torn file."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True)
class Annotation:
    """The state of one event after folding its lines; ``written`` is the time of its last line."""

    event_id: str
    starred: bool
    tags: tuple[str, ...]
    note: str
    written: str


def annotations_path(case: Case) -> Path:
    """Where the case keeps its annotations."""
    return case.root / ANNOTATIONS_FILE


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _encode(record: dict) -> bytes:
    return (json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n").encode("utf-8")


def _fail(message: str, where: str | None = None) -> AnnotationError:
    return AnnotationError(message, file=ANNOTATIONS_FILE, where=where,
                           hint="Nothing was written; correct the change and try again.")


def _clean_tag(tag: object) -> str:
    if not isinstance(tag, str):
        raise _fail(f"a tag must be text, not {type(tag).__name__}.", "tags")
    text = tag.strip()
    if not text or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        raise _fail(f"the tag {tag!r} is empty or holds a line break or control character.", "tags")
    return text


def validate_change(change: object) -> dict:
    """The change as it will be written (tags stripped, unique, sorted); AnnotationError if it is wrong."""
    if not isinstance(change, dict) or not change:
        raise _fail("a change must be a non-empty mapping of star, tags and/or note.")
    unknown = sorted(str(k) for k in change if k not in CHANGE_KEYS)
    if unknown:
        raise _fail(f"unknown key(s) {', '.join(unknown)}; a change may hold only star, tags and note.")
    out: dict = {}
    if "star" in change:
        if not isinstance(change["star"], bool):
            raise _fail(f"star must be true or false, not {type(change['star']).__name__}.", "star")
        out["star"] = change["star"]
    if "tags" in change:
        tags = change["tags"]
        if not isinstance(tags, (list, tuple)):
            raise _fail(f"tags must be a list of texts (the full new set), not {type(tags).__name__}.", "tags")
        out["tags"] = sorted({_clean_tag(tag) for tag in tags})
    if "note" in change:
        if not isinstance(change["note"], str):
            raise _fail(f"note must be text, not {type(change['note']).__name__}.", "note")
        out["note"] = change["note"]
    return out


def _known_event(case: Case, event_id: object) -> str:
    if not isinstance(event_id, str) or not event_id:
        raise _fail(f"the event id must be text, not {type(event_id).__name__}.")
    if case.master_file.exists():
        ids = pq.read_table(case.master_file, columns=["event_id"], filters=[("event_id", "=", event_id)])
        if ids.num_rows:
            return event_id
    raise _fail(f"there is no event {event_id!r} in this case's master.parquet.")


def _last_line(path: Path) -> bytes | None:
    """The file's last line with its ``\\n`` (None for an empty or absent file); AnnotationError when
    the file does not end in ``\\n`` (a write that was cut off)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    if not data:
        return None
    if not data.endswith(b"\n"):
        line = data.count(b"\n") + 1
        raise AnnotationError(f"the last line ({line}) is incomplete: a write was cut off.",
                              file=str(path), where=f"line {line}",
                              hint=f"Nothing was written. Keep a copy of the file, then delete its incomplete line "
                                   f"{line} with a text editor: the file is then as commtrail last recorded it in "
                                   "manifest.sha256, which commtrail verify checks.")
    return data[data.rfind(b"\n", 0, len(data) - 1) + 1:]


def append_annotation(case: Case, event_id: str, change: dict) -> dict:
    """Append one change (``star``: bool, ``tags``: the full new list, ``note``: text) to an event
    of the master; returns the line written, as a dict. The case's lock is held only while the
    line is written (and fsynced) and the manifest's entry for the file updated."""
    from commtrail.outputs.manifest import update_entries

    clean = validate_change(change)
    _known_event(case, event_id)
    path = annotations_path(case)
    with _APPENDING, case.lock():
        last = _last_line(path)
        record = {"change": clean, "event_id": event_id,
                  "prev": hashlib.sha256(last).hexdigest() if last is not None else GENESIS,
                  "written": _now().astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
        created = not path.exists()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, _encode(record))
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            fsync_dir(path.parent)
        update_entries(case, [ANNOTATIONS_FILE])
    return record


def _lines(case: Case) -> list[bytes]:
    """The file's lines, split at ``\\n`` only and each with it (a last one without it is kept as it is)."""
    try:
        data = annotations_path(case).read_bytes()
    except FileNotFoundError:
        return []
    *whole, rest = data.split(b"\n")
    return [line + b"\n" for line in whole] + ([rest] if rest else [])


def _parse(raw: bytes) -> dict | None:
    """A line as a record, or None when it is not one (not JSON, or a key of the wrong kind)."""
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    if not (isinstance(record, dict) and isinstance(record.get("event_id"), str)
            and isinstance(record.get("prev"), str) and isinstance(record.get("written"), str)
            and raw.endswith(b"\n")):
        return None
    try:
        record["change"] = validate_change(record.get("change"))
    except AnnotationError:
        return None
    return record


def load_annotations(case: Case) -> dict[str, Annotation]:
    """The folded state of every annotated event (later lines win; an undo is a later line).
    Lines that are not records are skipped here; :func:`check_annotations` names them."""
    state: dict[str, Annotation] = {}
    for raw in _lines(case):
        record = _parse(raw)
        if record is None:
            continue
        event_id, change = record["event_id"], record["change"]
        old = state.get(event_id) or Annotation(event_id, False, (), "", "")
        state[event_id] = Annotation(event_id, change.get("star", old.starred),
                                     tuple(change.get("tags", old.tags)), change.get("note", old.note),
                                     record["written"])
    return state


def check_annotations(case: Case) -> list[str]:
    """Problems in annotations.jsonl, each naming its line: a line that is not a record, a broken
    hash chain (a line before it edited or removed). An empty list when all is well."""
    problems = []
    prev = GENESIS
    for number, raw in enumerate(_lines(case), 1):
        record = _parse(raw)
        if record is None:
            what = "is incomplete (a write was cut off)" if not raw.endswith(b"\n") else "is not an annotation record"
            problems.append(f"{ANNOTATIONS_FILE} line {number} {what}")
        elif record["prev"] != prev:
            problems.append(f"{ANNOTATIONS_FILE} line {number}: the hash chain is broken (its prev does not "
                            f"match line {number - 1}, which was edited, or lines before it were removed)"
                            if number > 1 else
                            f"{ANNOTATIONS_FILE} line 1: the hash chain is broken (it is not the first line "
                            "written: lines before it were removed)")
        prev = hashlib.sha256(raw).hexdigest()
    return problems


def verify_annotations(case: Case, recorded: str | None) -> list[str]:
    """What ``verify`` says of annotations.jsonl, given its SHA-256 in the manifest (``recorded``):
    the problems of :func:`check_annotations` and, when the file differs from the manifest though its
    chain is whole, which lines differ (lines added by another writer, or the last line changed)."""
    problems = check_annotations(case)
    lines = _lines(case)
    if problems or recorded is None or not lines:
        return problems
    digest = hashlib.sha256()
    for number, raw in enumerate([b"", *lines]):
        digest.update(raw)
        if digest.hexdigest() == recorded:
            if number == len(lines):
                return []
            which = (f"line {number + 1} was" if number + 1 == len(lines)
                     else f"lines {number + 1} to {len(lines)} were")
            return [f"{ANNOTATIONS_FILE} {which} added after commtrail last wrote it (by another program)"]
    return [f"{ANNOTATIONS_FILE} line {len(lines)}, the last, was changed after commtrail wrote it, or lines "
            "after it were removed"]


@dataclass(frozen=True)
class Selection:
    """What ``--only starred`` and ``--tag NAME`` asked for (empty: every event)."""

    starred: bool = False
    tags: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.starred or bool(self.tags)

    def events(self, case: Case) -> set[str]:
        """The chosen event ids; UsageError when the selection chooses none (nothing to write)."""
        chosen = select_events(case, self.starred, self.tags)
        if not chosen:
            known = sorted({tag for a in load_annotations(case).values() for tag in a.tags})
            asked = (["--only starred"] if self.starred else []) + [f"--tag {tag}" for tag in self.tags]
            raise UsageError(f"no event of this case is chosen by {' '.join(asked)}; nothing was written.",
                             file=str(annotations_path(case)),
                             hint="Star or tag events in the review workspace (commtrail serve) first, or check "
                                  "the tag's spelling (tags in this case: " + (", ".join(known) or "none yet") + ").")
        return chosen

    def options(self) -> list[str]:
        """The command-line options that make this selection."""
        return (["--only", "starred"] if self.starred else []) + [part for tag in self.tags for part in ("--tag", tag)]


def select_events(case: Case, only_starred: bool, tags: Sequence[str]) -> set[str]:
    """The event ids a selection chooses. The criteria are joined by OR: an event is chosen when it
    is starred (if ``only_starred``) or carries any of ``tags`` (exact match). No criteria choose
    nothing."""
    wanted = set(tags)
    return {a.event_id for a in load_annotations(case).values()
            if (only_starred and a.starred) or wanted.intersection(a.tags)}
