"""Ingest: hash each input, copy it into the case, sniff it, parse it into staging, record it."""

from __future__ import annotations

import hashlib
import itertools
import os
import tarfile
import traceback
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from commtrail.case import Case
from commtrail.errors import CommtrailError, InputError
from commtrail.atomic import PARQUET_OPTIONS, atomic_path, fsync_dir, write_text
from commtrail.blobs import DirBlobStore
from commtrail.ingest.capped import MemoryCapExceeded, ParseCrashed, needs_cap, run_capped
from commtrail.ingest.discover import Discovery, InputItem, discover
from commtrail.ingest.media import media_kind
from commtrail.ingest.staging import write_staging
from commtrail.inventory import read_inventory, write_inventory
from commtrail.parsers import registry
from commtrail.parsers.base import ParseContext, read_full
from commtrail.terminal import printable
from commtrail.timeline.schema import REJECT_SCHEMA

CHUNK = 1 << 20


@dataclass
class Outcome:
    """What happened to one input, for the summary table."""

    label: str
    status: str            # ingested, skipped, media, failed
    format: str = ""
    sha256: str = ""
    records: int = 0
    rejects: int = 0
    repairs: int = 0
    warnings: list[str] = field(default_factory=list)
    error: CommtrailError | None = None


@dataclass
class IngestResult:
    outcomes: list[Outcome]
    # an earlier ingest was interrupted after changing staging: the master must be rebuilt
    resumed: bool = False
    # system files passed over (.DS_Store, ...), by kind
    skipped: dict[str, int] = field(default_factory=dict)
    # what parsers said about the whole run (each once), sorted
    notices: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def changed(self) -> bool:
        return self.resumed or any(o.status == "ingested" for o in self.outcomes)


def _shown(outcome: Outcome) -> Outcome:
    """A copy of an outcome for display (the inventory keeps the exact texts)."""
    error = outcome.error
    if error is not None:
        for attr in ("message", "file", "where", "hint"):
            value = getattr(error, attr)
            if isinstance(value, str):
                setattr(error, attr, printable(value))
    return Outcome(printable(outcome.label), outcome.status, outcome.format, outcome.sha256, outcome.records,
                   outcome.rejects, outcome.repairs, [printable(w) for w in outcome.warnings], error)


class Progress:
    """Progress callback interface: the CLI passes a rich progress bar; tests pass nothing."""

    def start(self, label: str, total: int) -> None: ...

    def advance(self, n: int) -> None: ...

    def finish(self) -> None: ...


class _CountingReader:
    """A read-only stream that reports how many bytes went through."""

    def __init__(self, raw: BinaryIO, advance: Callable[[int], None]) -> None:
        self._raw = raw
        self._advance = advance

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        if n is not None and 0 < len(data) < n:
            # read(n) gives n bytes unless the end comes first, whatever the stream underneath
            data += read_full(self._raw, n - len(data))
        self._advance(len(data))
        return data

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        self._raw.close()

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self._raw, name)


# What reading a file or an archive member can raise: unreadable files, damaged or encrypted
# archive members (zipfile raises RuntimeError for a password), bad compressed data.
READ_ERRORS = (OSError, RuntimeError, EOFError, zipfile.BadZipFile, tarfile.TarError, zlib.error)


def _read_error(label: str, exc: BaseException) -> InputError:
    if isinstance(exc, RuntimeError) and "password" in str(exc).lower():
        return InputError("this archive member is encrypted, so it cannot be read.", file=label,
                          hint="Export it again without a password, or extract it with its password first.")
    if isinstance(exc, NotImplementedError):
        return InputError(f"this archive member is encrypted (AES) or compressed in a way commtrail cannot read "
                          f"({exc}).", file=label, hint="Extract the archive with 7-Zip or your system's archive "
                          "tool (with its password, if it has one) and give the extracted files.")
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else f"{type(exc).__name__}: {exc}"
    return InputError(f"cannot be read ({reason}).", file=label,
                      hint="Check that the file is complete and that you may read it.")


def _recording(item: InputItem, used: set[str]) -> Callable[[str], BinaryIO] | None:
    """The item's relative opener, noting the label of every file it opens."""
    if item.open_relative is None:
        return None
    opener = item.open_relative

    def open_relative(path: str) -> BinaryIO:
        label, stream = opener(path)
        used.add(label)
        return stream
    return open_relative


def _head(item: InputItem) -> bytes:
    with item.open() as stream:
        return stream.read(registry.SNIFF_BYTES)


def _hash_and_copy(item: InputItem, target_dir: Path, copy: bool, progress: Progress) -> tuple[str, Path | None]:
    """SHA-256 of the input; with ``copy`` also a read-only copy at ``originals/<sha256>``."""
    digest = hashlib.sha256()
    tmp = target_dir / f".incoming-{os.getpid()}"
    out = open(tmp, "wb") if copy else None
    try:
        with item.open() as stream:
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
                if out:
                    out.write(chunk)
                progress.advance(len(chunk))
        if out:
            out.flush()
            os.fsync(out.fileno())
            out.close()
            out = None
            sha = digest.hexdigest()
            final = target_dir / sha
            if final.exists():
                tmp.unlink()
            else:
                os.chmod(tmp, 0o400)
                os.replace(tmp, final)
            return sha, final
        return digest.hexdigest(), None
    finally:
        if out:
            out.close()
        if tmp.exists():
            tmp.unlink()


def _sha256(item: InputItem) -> str:
    digest = hashlib.sha256()
    with item.open() as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _store(item: InputItem, blobs: DirBlobStore) -> str:
    with item.open() as stream:
        return blobs.put_stream(stream)[0]


def _attachments(case: Case, inventory: list[dict]) -> set[str]:
    """The SHA-256 of every attachment listed by the staged records of the case's sources."""
    out: set[str] = set()
    for row in inventory:
        path = case.staging / f"{row['sha256']}.parquet"
        if path.exists():
            column = pq.read_table(path, columns=["attachments"]).column("attachments")
            out.update(s for s in pc.struct_field(pc.list_flatten(column), "sha256").unique().to_pylist() if s)
    return out


def _remove_leftovers(case: Case, sha: str) -> None:
    """What a parse stopped by force leaves: its temporary staging files and unfinished blobs."""
    for path in [*case.staging.glob(f".{sha}*.tmp-*"), *case.blobs.glob(".tmp-*")]:
        path.unlink(missing_ok=True)


def _changed_since(item: InputItem, sha: str) -> bool:
    """Whether the input no longer hashes to ``sha`` (or can no longer be read)."""
    digest = hashlib.sha256()
    try:
        with item.open() as stream:
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
    except READ_ERRORS:
        return True
    return digest.hexdigest() != sha


def _stage(case: Case, parser: registry.Parser, sha: str, stream: BinaryIO, ctx: ParseContext) -> tuple[int, int]:
    """Run the parser and write its staging and rejects files; returns (records, rejects)."""
    target = case.staging / f"{sha}.parquet"
    with atomic_path(target) as tmp:
        records, rejects = write_staging(parser.parse(stream, ctx), tmp)
        # A parser that raised leaves no staging file: atomic_path removes the temporary one.
        rej_table = pa.Table.from_pylist(
            [{"source_sha256": sha, "source_path": ctx.source_path, "locator": r.locator, "reason": r.reason,
              "raw": r.raw, "parser": parser.label} for r in rejects], schema=REJECT_SCHEMA)
        with atomic_path(case.staging / f"{sha}.rejects.parquet") as rtmp:
            pq.write_table(rej_table, rtmp, **PARQUET_OPTIONS)
    return records, len(rejects)


def ingest(case: Case, inputs: list[str], *, date_order: str | None = None, copy: bool = True,
           progress: Progress | None = None, debug: bool = False,
           password: Callable[[], str | None] | None = None) -> IngestResult:
    """Ingest files, folders and archives into the case; other stages rebuild from staging
    (``password``: gives the password of an encrypted input when one needs it)."""
    progress = progress or Progress()
    case.ensure_dirs()
    case.tidy()
    # The marker stays until the master and the manifest are rebuilt (write_manifest removes it),
    # so an ingest killed half-way is finished by the next one.
    resumed = case.pending_file.exists()
    if not resumed:
        write_text("ingest in progress\n", case.pending_file)
    found = discover(inputs, case.config.limits, case.root / ".tmp", case_root=case.root)
    try:
        result = _ingest(case, found, date_order, copy, progress, debug, password)
    finally:
        found.close()
    result.resumed = resumed
    result.skipped = found.skipped
    if not result.changed:
        case.pending_file.unlink(missing_ok=True)
    result.outcomes = [_shown(o) for o in result.outcomes]
    return result


def _ingest(case: Case, found: Discovery, date_order: str | None, copy: bool, progress: Progress,
            debug: bool, password: Callable[[], str | None] | None = None) -> IngestResult:
    outcomes = [Outcome(e.file or "?", "failed", error=e) for e in found.errors]
    outcomes += [Outcome(n.rsplit(": ", 1)[0], "skipped", warnings=[n.rsplit(": ", 1)[1]]) for n in found.notices]
    inventory = read_inventory(case.sources_file)
    known_sha = {row["sha256"]: row for row in inventory}
    known_disk = {row["disk_key"]: row for row in inventory if row["disk_key"]}
    config = case.config
    blobs = DirBlobStore(case.blobs)
    order = (date_order or config.date_order or None)
    cap = config.limits.max_parse_memory_mb

    unknown: list[tuple[InputItem, bytes]] = []   # no parser claims them: attachments, media or unknown
    used_labels: set[str] = set()   # files opened by a parser through a relative path
    named: dict[str, set[str]] = {}  # folder -> names of the files beside them its chats and logs linked
    now = datetime.now(timezone.utc).replace(microsecond=0)

    def is_named(item: InputItem) -> bool:
        """Whether a chat or incident log of this run opened or named the file (it is their attachment)."""
        return item.label in used_labels or item.name in named.get(item.folder_key, ())

    # Media (a parser with after_siblings) wait until the other inputs have run: the first pass
    # puts them here, and the loop goes on over them once found.items is done.
    notices: set[str] = set()
    attached: set[str] | None = None    # SHA-256 of every attachment the case's sources list (when needed)
    held: list[InputItem] = []
    held_ids: set[int] = set()
    for item in itertools.chain(found.items, held):
        if item.disk_key is not None:
            row = known_disk.get(item.disk_key)
            if row is not None:
                outcomes.append(Outcome(item.label, "skipped", row["format"]))
                continue
        try:
            head = _head(item)
        except READ_ERRORS as exc:
            outcomes.append(Outcome(item.label, "failed", error=_read_error(item.label, exc)))
            continue
        try:
            parser = registry.sniff(head, item.name)
        except Exception as exc:  # a parser's sniff bug must not stop the other inputs
            detail = traceback.format_exc() if debug else f"{type(exc).__name__}: {exc}"
            outcomes.append(Outcome(item.label, "failed", error=InputError(
                f"commtrail failed while recognising the format of this file ({detail}). Nothing from it was "
                "added.", file=item.label, hint="Please report this problem; run with --debug for details.")))
            continue
        if parser is None:
            unknown.append((item, head))
            continue
        if parser.after_siblings and id(item) not in held_ids:
            held_ids.add(id(item))
            held.append(item)
            continue
        if parser.after_siblings and is_named(item):
            outcomes.append(Outcome(item.label, "media", "attachment"))
            continue
        progress.start(item.label, item.size * 2)
        try:
            sha, copy_path = _hash_and_copy(item, case.originals, copy, progress)
        except READ_ERRORS as exc:
            progress.finish()
            outcomes.append(Outcome(item.label, "failed", parser.name, error=_read_error(item.label, exc)))
            continue
        if sha in known_sha:
            progress.finish()
            outcomes.append(Outcome(item.label, "skipped", known_sha[sha]["format"]))
            continue
        if parser.after_siblings:
            if attached is None:
                attached = _attachments(case, inventory)
            if sha in attached:   # named by a chat or a log of an earlier run (which this run skipped)
                progress.finish()
                if copy_path is not None:
                    os.chmod(copy_path, 0o600)
                    copy_path.unlink()
                outcomes.append(Outcome(item.label, "media", "attachment", sha256=sha))
                continue
        ctx = ParseContext(source_sha256=sha, source_path=item.label, timezone=config.timezone,
                           phone_region=config.phone_region, owner=config.owner(), date_order=order,
                           blobs=blobs, siblings=item.siblings, parser_label=parser.label,
                           work_dir=case.root / ".tmp", file_name=item.name, modified=item.modified,
                           ocr_languages=config.ocr_languages, password=password)
        opener: Callable[[], BinaryIO] = (lambda p=copy_path: open(p, "rb")) if copy_path else item.open
        outcome = Outcome(item.label, "ingested", parser.name)

        def work(advance: Callable[[int], None], item: InputItem = item, parser: registry.Parser = parser,
                 sha: str = sha, ctx: ParseContext = ctx, opener: Callable[[], BinaryIO] = opener):
            used: set[str] = set()
            ctx.open_relative = _recording(item, used)
            with opener() as raw:
                records, rejects = _stage(case, parser, sha, _CountingReader(raw, advance), ctx)
            return records, rejects, ctx.report, used
        try:
            if needs_cap(item.size, head, cap << 20):
                n_records, n_rejects, ctx.report, used = run_capped(work, cap << 20, progress.advance)
            else:
                n_records, n_rejects, _, used = work(progress.advance)
            used_labels.update(used)
        except CommtrailError as exc:
            exc.file = exc.file or item.label
            outcome.status, outcome.error = "failed", exc
        except MemoryCapExceeded as exc:
            outcome.status = "failed"
            outcome.error = InputError(
                f"reading this {parser.name} file needed more memory than the {cap:,} MB that one parse may use "
                f"({exc}); it was stopped and nothing from it was added." if exc.certain else
                f"reading this {parser.name} file stopped with {exc} while it was limited to {cap:,} MB of memory, "
                "most likely because it needed more; nothing from it was added.", file=item.label,
                hint="If this computer has the memory, raise max_parse_memory_mb under [limits] in case.toml and "
                     "ingest the file again." + ("" if exc.certain else " If it stops again, please report this "
                                                 "problem."))
        except Exception as exc:  # a parser bug (ParseCrashed: in its own process) must not stop the other inputs
            if isinstance(exc, ParseCrashed):
                detail = exc.trace if debug and exc.trace else exc.detail
            else:
                detail = traceback.format_exc() if debug else f"{type(exc).__name__}: {exc}"
            outcome.status = "failed"
            outcome.error = InputError(
                f"commtrail failed while reading this {parser.name} file ({detail}). Nothing from it was "
                "added.", file=item.label, hint="Please report this problem; run with --debug for details.")
        finally:
            progress.finish()
        if outcome.status == "failed":
            _remove_leftovers(case, sha)
        if outcome.status != "failed" and copy_path is None and _changed_since(item, sha):
            # --no-copy parses the input itself, not a copy: it must still be what was hashed.
            for path in (case.staging / f"{sha}.parquet", case.staging / f"{sha}.rejects.parquet"):
                path.unlink(missing_ok=True)
            outcome.status = "failed"
            outcome.error = InputError(
                "this file changed while commtrail was reading it (its SHA-256 is no longer the one it had when "
                "reading began), so nothing from it was added.", file=item.label,
                hint="Run the ingest again when nothing is writing to the file, or without --no-copy so that "
                     "commtrail reads its own copy.")
        if outcome.status == "failed":
            if copy_path and copy_path.exists() and sha not in known_sha:
                os.chmod(copy_path, 0o600)
                copy_path.unlink()
            outcomes.append(outcome)
            continue
        outcome.records, outcome.rejects, outcome.sha256 = n_records, n_rejects, sha
        outcome.repairs = ctx.report.repairs
        outcome.warnings = list(ctx.report.warnings)
        notices |= ctx.report.notices
        row = {"sha256": sha, "path": item.label, "disk_key": item.disk_key,
               "size": item.size, "format": parser.name, "parser": parser.label,
               "records": n_records, "rejects": n_rejects, "repairs": ctx.report.repairs,
               "declared_count": ctx.report.declared_count, "warnings": outcome.warnings,
               "container": item.container, "copied": copy_path is not None, "ingested_at": now,
               "input": item.given}
        inventory.append(row)
        known_sha[sha] = row
        outcomes.append(outcome)
        if parser.uses_siblings:
            named.setdefault(item.folder_key, set()).update(ctx.report.used_siblings)

    for item, head in unknown:
        if is_named(item):
            outcomes.append(Outcome(item.label, "media", "attachment"))
            continue
        kind = media_kind(head)
        try:
            sha = _store(item, blobs) if kind else _sha256(item)
        except READ_ERRORS as exc:
            outcomes.append(Outcome(item.label, "failed", error=_read_error(item.label, exc)))
            continue
        if attached is None:
            attached = _attachments(case, inventory)
        if sha in attached:      # named by a chat or a log ingested before
            outcomes.append(Outcome(item.label, "media", "attachment", sha256=sha))
        elif kind:
            outcomes.append(Outcome(item.label, "media", "unreferenced", sha256=sha, warnings=[
                f"no chat or incident log names this {kind} file; it is kept as an unreferenced attachment of "
                f"its folder (blobs/{sha[:12]}...), not as an event of the timeline."]))
        elif not head:
            outcomes.append(Outcome(item.label, "failed", error=InputError(
                "this file is empty (0 bytes), so there is nothing in it to add.", file=item.label,
                hint="If it should hold something, copy it again from the phone, the export or the mail account; "
                "otherwise leave it out.")))
        else:
            names = ", ".join(p.name for p in registry.all_parsers())
            outcomes.append(Outcome(item.label, "failed", error=InputError(
                "commtrail does not recognise the format of this file, so nothing from it was added.",
                file=item.label, hint=f"It reads these formats: {names}. If this is one of them, the file may be "
                "damaged or re-encoded; otherwise leave it out.")))

    # The inventory publishes this run's copies and blobs: their names are on disk before it is.
    fsync_dir(case.originals)
    fsync_dir(case.blobs)
    write_inventory(case.sources_file, inventory)
    return IngestResult(outcomes, notices=sorted(notices))
