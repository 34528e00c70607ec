"""``commtrail bundle``: the court bundle, a BagIt bag (RFC 8493) that the Library of Congress's
``bagit`` library validates (its bag-info and tag manifest are written by it; the payload manifest
from the hashes taken while copying, so nothing is hashed twice).

The payload (``data/``) holds the originals as received (under their own names), the report, a
transcript per party, the exports, the master and the inventory, the incident log's evidence files
and the attachments of the events, a methodology sheet and certification templates. Beside the
BagIt manifests, ``hashdeep.txt`` lists every payload file in hashdeep's format. Files are copied
and hashed in streams. The bag is built in a temporary folder beside OUT and renamed into place
when complete, so an interrupted bundle leaves no half bag under OUT. Same case, same bytes: two
bundles of one case differ only in bag-info's ``Bagging-Date`` (and so in the tag manifest's line
for bag-info.txt).
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import multiprocessing
import os
import re
import shlex
import shutil
import time
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from commtrail import __version__
from commtrail.case import CASE_FILE, Case
from commtrail.errors import CaseError, UsageError
from commtrail.inventory import read_inventory
from commtrail.outputs.bundle_docs import write_certificates, write_methodology, write_rejects
from commtrail.outputs.bundle_reuse import case_inputs, inputs_of, keep, take
from commtrail.outputs.bundle_zip import restamp_zip
from commtrail.outputs.current import REPORT, export_inputs, export_name, report_inputs, take_current
from commtrail.outputs.export import FORMATS, check_party, export_rows, export_target, write_exports
from commtrail.outputs.manifest import sha256_file, write_manifest
from commtrail.outputs.produce import produce_undoably
from commtrail.outputs.report_data import gather
from commtrail.outputs.slugs import case_slugs
from commtrail.review.annotations import Selection
from commtrail.timeline.produced import PRODUCTIONS_FILE, Production, exhibit_name

logging.getLogger("bagit").addHandler(logging.NullHandler())   # bagit's log lines are not for the user

CHUNK = 1 << 20
# From this many events listed, the transcripts and the exports not taken are written in a second
# process beside the report (below it, starting that process takes longer than it saves).
BESIDE_EVENTS = 20_000
HASHDEEP = "hashdeep.txt"
BAGIT_TXT = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
# Case files copied as they are (those that exist), into data/case/.
CASE_FILES = ("master.parquet", "sources.parquet", "possibly_deleted.parquet", "screenshot_links.parquet", CASE_FILE,
              "annotations.jsonl", PRODUCTIONS_FILE)
_UNSAFE = re.compile(r"[^\w.\-+()' ]+")
_RESERVED = re.compile(r"^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$", re.IGNORECASE)
_EXT = re.compile(r"^\.[A-Za-z0-9]{1,8}$")


@dataclass
class Payload:
    """What went into ``data/``: names of sources and attachments, and each generated file."""

    names: dict[str, str] = field(default_factory=dict)          # source sha256 -> originals/<name>
    not_copied: list[dict] = field(default_factory=list)         # inventory rows with no copy in the case
    files: dict[str, str] = field(default_factory=dict)          # attachment sha256 -> path under data/
    transcripts: dict[str, str] = field(default_factory=dict)    # party -> path under data/
    exports: list[str] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)        # path under data/ -> SHA-256 known from copying
    master_sha256: str = ""
    seconds: dict[str, float] = field(default_factory=dict)     # time taken by each step


@dataclass
class BundleResult:
    path: Path
    files: int
    bytes: int
    encrypted: bool = False
    seconds: dict[str, float] = field(default_factory=dict)


@contextmanager
def _timed(seconds: dict[str, float], step: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    seconds[step] = seconds.get(step, 0.0) + time.perf_counter() - start


def copy_hashed(src: Path, dst: Path) -> tuple[str, int]:
    """Copy ``src`` to ``dst`` in 1 MiB blocks, hashing on the way; (sha256, size)."""
    digest, size = hashlib.sha256(), 0
    with open(src, "rb") as inp, open(dst, "wb") as out:
        while chunk := inp.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def safe_name(path: str) -> str:
    """The file name of a source as given (the member's name inside an archive), made safe for every
    file system and for hashdeep's comma-separated lines."""
    base = re.split(r"[/\\!]", path)[-1]
    base = unicodedata.normalize("NFC", base.encode("utf-8", "replace").decode("utf-8"))
    base = _UNSAFE.sub("_", base).strip(" .")
    if not base or _RESERVED.match(base):
        base = f"source_{base}" if base else "source"
    if len(base) > 100:
        stem, ext = os.path.splitext(base)
        base = stem[: 100 - len(ext)] + ext
    return base


def unique_names(rows: list[dict]) -> dict[str, str]:
    """sha256 -> a name unique among ``rows`` (the first by name and hash keeps it; the others get
    the first 12 hex digits of their hash before the extension)."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    for name, sha in sorted((safe_name(r["path"]), r["sha256"]) for r in rows):
        if name.lower() in taken:
            stem, ext = os.path.splitext(name)
            name = f"{stem}-{sha[:12]}{ext}"
        taken.add(name.lower())
        out[sha] = name
    return out


def _extension(name: str | None, mime: str | None) -> str:
    ext = os.path.splitext(name or "")[1]
    if _EXT.match(ext):
        return ext.lower()
    guessed = mimetypes.guess_extension(mime or "", strict=False) if mime else None
    return guessed or ""


def _copy_originals(case: Case, data: Path, payload: Payload) -> None:
    rows = read_inventory(case.sources_file)
    kept = [r for r in rows if (case.originals / r["sha256"]).is_file()]
    payload.not_copied = sorted((r for r in rows if r not in kept), key=lambda r: (r["path"], r["sha256"]))
    names = unique_names(kept)
    (data / "originals").mkdir()
    for sha, name in sorted(names.items(), key=lambda kv: kv[1]):
        digest, _ = copy_hashed(case.originals / sha, data / "originals" / name)
        if digest != sha:
            raise CaseError(f"originals/{sha} no longer has the SHA-256 it is named by, so it cannot go into a "
                            "bundle as the original.", file=str(case.root),
                            hint=f"Run commtrail verify {case.root} and restore the file from a backup.")
        payload.names[sha] = f"originals/{name}"
        payload.hashes[payload.names[sha]] = sha


def _copy_blobs(case: Case, data: Path, party: str | None, payload: Payload) -> None:
    """The attachments of the events in the bundle, and the incident log's evidence files."""
    wanted: dict[str, tuple[str, str]] = {}
    reader = pq.ParquetFile(case.master_file)
    for batch in reader.iter_batches(batch_size=20_000, columns=["party", "channel", "attachments"]):
        batch = batch.filter(pc.fill_null(pc.greater(pc.list_value_length(batch.column("attachments")), 0), False))
        for row in batch.to_pylist():   # only the rows with attachments become Python objects
            incident = row["channel"] == "incident"
            if party is not None and row["party"] != party and not incident:
                continue
            for a in row["attachments"] or []:
                sha = a["sha256"]
                if sha and sha not in wanted:
                    folder = "incident-log/evidence" if incident else "attachments"
                    wanted[sha] = (folder, f"{sha}{_extension(a['name'], a['mime'])}")
    for sha, (folder, name) in sorted(wanted.items()):
        source = case.blobs / sha
        if not source.is_file():
            raise CaseError(f"the attachment blobs/{sha} that the master lists is not in the case.",
                            file=str(case.root), hint=f"Run commtrail verify {case.root} to see what else is missing.")
        (data / folder).mkdir(parents=True, exist_ok=True)
        digest, _ = copy_hashed(source, data / folder / name)
        if digest != sha:
            raise CaseError(f"blobs/{sha} no longer has the SHA-256 it is named by.", file=str(case.root),
                            hint=f"Run commtrail verify {case.root} and restore the file from a backup.")
        payload.files[sha] = f"{folder}/{name}"
        payload.hashes[payload.files[sha]] = sha


def _take_exports(case: Case, data: Path, party: str | None, created: datetime, payload: Payload,
                  selection: Selection, selected: bool, known: dict, write: bool) -> dict[str, Path]:
    """The CSV, XLSX and JSONL exports: each taken from ``commtrail export``'s file when that was
    made from the same inputs (``known``: the case's, see current.py); the others, to be written
    (with ``write``; without, they were taken already), by format."""
    (data / "exports").mkdir(exist_ok=True)
    stem = "master" if party is None else f"master-{case_slugs(case.config)[party]}"
    stem += "-selected" if selected else ""
    missing = {}
    for fmt in FORMATS:
        target = data / "exports" / f"{stem}.{fmt}"
        if write:
            source = export_target(case, fmt, party, selection)
            rel = source.relative_to(case.root).as_posix()
            taken = take_current(case, export_name(source), export_inputs(known, fmt, party, selection), {rel: target})
            if taken is None:
                missing[fmt] = target
            elif fmt == "xlsx":   # dated, so its hash is no longer the export's
                restamp_zip(target, created)
            else:
                payload.hashes[f"exports/{target.name}"] = taken[rel]
        payload.exports.append(f"exports/{target.name}")
    return missing


def _write_exports(root: Path, party: str | None, only: set[str] | None, targets: dict[str, Path],
                   created: datetime) -> None:
    """Write the exports ``targets`` (format -> file) in one pass over the master; the XLSX dated ``created``."""
    write_exports(export_rows(Case(root), party, only), targets)
    if "xlsx" in targets:
        restamp_zip(targets["xlsx"], created)


def _take_report(case: Case, data: Path, inputs: dict, payload: Payload) -> bool:
    """Copy ``commtrail report``'s report.html and report.pdf into ``data/report`` when they were
    made from exactly ``inputs`` (see current.py)."""
    targets = {(case.report_dir / name).relative_to(case.root).as_posix(): data / "report" / name
               for name in ("report.html", "report.pdf")}
    taken = take_current(case, REPORT, inputs, targets)
    for rel, digest in (taken or {}).items():
        payload.hashes[f"report/{rel.rsplit('/', 1)[-1]}"] = digest
    return taken is not None


def assemble(case: Case, data: Path, party: str | None, command: str,
             selection: Selection = Selection()) -> Payload:
    """Write the payload into ``data`` (the case's lock held); charts the report draws are refreshed
    in the case and its manifest, as ``commtrail report`` does. With a ``selection`` the report,
    transcripts and exports hold only the events it chooses (the case files, annotations.jsonl
    among them, are copied whole). The report, the transcripts and the exports are taken from the
    last bundle of this scope when nothing they are made from changed (see bundle_reuse.py; the
    command with its selection and annotations.jsonl are among those inputs), and kept for the
    next one when written anew; otherwise the report and the exports are taken from what
    ``commtrail report`` and ``commtrail export`` wrote when that is current (see current.py)."""
    seconds: dict[str, float] = {}
    only = selection.events(case) if selection else None
    scope = "all" if party is None else case_slugs(case.config)[party]
    payload = Payload(seconds=seconds)
    with _timed(seconds, "reuse"):
        known = case_inputs(case)
        inputs = inputs_of(known, scope, command)
        taken = take(case, scope, inputs, data)
        reused = taken is not None
        payload.hashes.update(taken or {})
        report_taken = reused or _take_report(case, data, report_inputs(known, party, selection), payload)
    with _timed(seconds, "report"):
        report = gather(case, party, selection=selection, sections=not report_taken)
    payload.master_sha256 = report.master_sha256
    with _timed(seconds, "copies"):
        _copy_originals(case, data, payload)
        _copy_blobs(case, data, party, payload)
        (data / "case").mkdir()
        for name in CASE_FILES:
            if (case.root / name).is_file():
                payload.hashes[f"case/{name}"] = copy_hashed(case.root / name, data / "case" / name)[0]
    (data / "transcripts").mkdir(exist_ok=True)
    slugs = case_slugs(case.config, report.parties)   # distinct names: "Jordan K" and "Jordan-K" differ
    payload.transcripts = {name: f"transcripts/transcript-{slugs[name]}.pdf" for name in report.parties}
    jobs = [] if reused else [(case.root, name, data / rel, payload.names, payload.files, report.master_sha256,
                               report.pdf_date, only, report.selection) for name, rel in payload.transcripts.items()]
    with _timed(seconds, "exports"):
        missing = _take_exports(case, data, party, report.pdf_date, payload, selection, only is not None, known,
                                write=not reused)
    exports = (case.root, party, only, missing, report.pdf_date) if missing else None
    with _beside(jobs, exports, report.exhibits.num_rows >= BESIDE_EVENTS) as beside_done:
        if not report_taken:
            with _timed(seconds, "report"):   # the writers (fpdf2, matplotlib) are imported only to write
                from commtrail.outputs.charts import charts_dir
                from commtrail.outputs.report_html import write_html
                from commtrail.outputs.report_pdf import write_pdf
                (data / "report").mkdir(parents=True, exist_ok=True)   # a report not taken may have left it
                write_html(case, report, data / "report" / "report.html")
                write_pdf(case, report, data / "report" / "report.pdf")
                if charts_dir(case).is_dir():
                    write_manifest(case, [charts_dir(case)])
        with _timed(seconds, "transcripts"):   # what is left of them and of the exports once the report is written
            beside_done()
    if not reused:
        with _timed(seconds, "keep"):
            generated = ["report/report.html", "report/report.pdf", *payload.transcripts.values(), *payload.exports]
            folder, kept = keep(case, scope, inputs, data, generated)
            payload.hashes.update(kept)
            write_manifest(case, [folder])
    with _timed(seconds, "documents"):
        write_rejects(case, data / "case" / "rejects.csv", payload.names)
        write_methodology(case, report, payload, data / "methodology.md", command)
        write_certificates(case, report, payload, data)
    return payload


def _write_beside(jobs: list[tuple], exports: tuple | None) -> None:
    """Write each transcript of ``jobs`` (a case's root, then write_transcript's arguments), then
    the ``exports`` (_write_exports's arguments)."""
    from commtrail.outputs.transcript import write_transcript
    for root, *args in jobs:
        write_transcript(Case(root), *args)
    if exports is not None:
        _write_exports(*exports)


@contextmanager
def _beside(jobs: list[tuple], exports: tuple | None, parallel: bool) -> Iterator[Callable[[], None]]:
    """Write the transcripts ``jobs`` and the ``exports`` not taken (see _write_beside) in a second
    process while the block writes the report (when ``parallel``; else when the block calls what it
    is given); that call waits for them and raises what the worker raised. A failing block stops
    the worker."""
    if (not jobs and exports is None) or not parallel:
        yield lambda: _write_beside(jobs, exports)
        return
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        pending = pool.apply_async(_write_beside, (jobs, exports))
        yield lambda: pending.get()


def make_bag(bag_dir: Path, case: Case, party: str | None, payload: Payload,
             production: Production | None = None) -> None:
    """Turn ``bag_dir``, its payload in ``data/``, into a bag: the SHA-256 payload manifest from the
    hashes taken while copying (``payload.hashes``; the other files are hashed here), bagit.txt,
    then bag-info.txt and the tag manifest written by bagit; then add hashdeep.txt and rewrite the
    tag manifest in sorted order (bagit lists tag files in directory order). bag-info names the
    ``production`` that froze the exhibit numbers."""
    import bagit

    files, size = write_payload_manifest(bag_dir, payload.hashes)
    (bag_dir / "bagit.txt").write_text(BAGIT_TXT, encoding="utf-8")   # RFC 8493 is BagIt 1.0
    scope = f"party {party}" if party else "every party"
    info = {"Bag-Software-Agent": f"commtrail {__version__} (bagit.py {bagit.VERSION})",
            "Bagging-Date": date.today().strftime("%Y-%m-%d"),
            "External-Description": f"Court bundle of the case \u201c{case.config.title}\u201d ({scope})",
            "External-Identifier": f"master.parquet SHA-256 {payload.master_sha256}",
            "Payload-Oxum": f"{size}.{files}"}
    if production is not None:
        info["Exhibit-Numbers-Produced"] = (f"up to {exhibit_name(production.last)} (production {production.number} "
                                            f"of data/case/{PRODUCTIONS_FILE}); numbers once produced never change")
    bag = bagit.Bag(str(bag_dir))
    bag.info = info
    bag.save()   # bag-info.txt and the tag manifest; the payload is not hashed again
    write_hashdeep(bag_dir)
    write_tagmanifest(bag_dir)


def _payload_walk(data: Path) -> Iterator[Path]:
    """The payload files in bagit's manifest order: each folder's files by name, then its folders by name."""
    for folder, dirs, names in os.walk(data):
        dirs.sort()
        for name in sorted(names):
            yield Path(folder) / name


def write_payload_manifest(bag_dir: Path, hashes: dict[str, str]) -> tuple[int, int]:
    """manifest-sha256.txt in bagit's format and order, each digest from ``hashes`` (path under
    data/ -> SHA-256, taken while the file was copied or written) or computed now; (files, bytes)."""
    lines, size = [], 0
    for path in _payload_walk(bag_dir / "data"):
        rel = path.relative_to(bag_dir / "data").as_posix()
        digest = hashes.get(rel) or sha256_file(path)
        size += path.stat().st_size
        lines.append(f"{digest}  data/{rel}".replace("\r", "%0D").replace("\n", "%0A") + "\n")
    (bag_dir / "manifest-sha256.txt").write_text("".join(lines), encoding="utf-8")
    return len(lines), size


def write_hashdeep(bag_dir: Path) -> Path:
    """hashdeep.txt from the bag's SHA-256 manifest (sizes from the files): check it with
    ``hashdeep -c sha256 -r -l -a -k hashdeep.txt data`` from the bag's folder."""
    lines = ["%%%% HASHDEEP-1.0", "%%%% size,sha256,filename", "## Invoked from: the bundle's folder",
             "## $ hashdeep -c sha256 -r -l data", "##"]
    for rel, digest in sorted(parse_bag_manifest((bag_dir / "manifest-sha256.txt").read_text(encoding="utf-8")).items()):
        lines.append(f"{(bag_dir / rel).stat().st_size},{digest},{rel}")
    target = bag_dir / HASHDEEP
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def write_tagmanifest(bag_dir: Path) -> None:
    """tagmanifest-sha256.txt over every tag file, sorted, in sha256sum's format."""
    lines = []
    for path in sorted(bag_dir.rglob("*")):
        rel = path.relative_to(bag_dir).as_posix()
        if path.is_file() and not rel.startswith("data/") and not rel.startswith("tagmanifest-"):
            lines.append(f"{sha256_file(path)}  {rel}\n")
    (bag_dir / "tagmanifest-sha256.txt").write_text("".join(lines), encoding="utf-8")


def parse_bag_manifest(text: str) -> dict[str, str]:
    """path -> digest of a BagIt manifest's text (``%0A``/``%0D`` decoded as bagit does)."""
    out = {}
    for line in text.splitlines():
        if line.strip():
            digest, _, rel = line.partition(" ")
            out[rel.lstrip(" *").replace("%0A", "\n").replace("%0D", "\r")] = digest.lower()
    return out


def bundle_command(party: str | None, encrypt: bool, selection: Selection = Selection()) -> str:
    """The command as the methodology names it (the case and output as CASE and OUT)."""
    bits = ["commtrail bundle CASE OUT"]
    if party:
        bits.append(f"--party {shlex.quote(party)}")
    bits += [shlex.quote(option) for option in selection.options()]
    if encrypt:
        bits.append("--encrypt")
    return " ".join(bits)


def bundle_target(case: Case, out: Path, party: str | None, encrypt: bool,
                  selection: Selection = Selection()) -> Path:
    """Where the bundle goes (``OUT.zip`` when encrypted), after checking the party, the master, the
    selection and that nothing is there yet (so a passphrase is asked for only when the bundle can
    be written)."""
    check_party(case, party)
    if not case.master_file.exists():
        raise UsageError("this case has no master evidence file yet.", file=str(case.root),
                         hint=f"Ingest the backups first: commtrail ingest {case.root} FILES...")
    if selection:
        selection.events(case)
    out = Path(out)
    if encrypt and out.suffix.lower() != ".zip":
        out = out.with_name(out.name + ".zip")
    if out.exists() or out.is_symlink():
        raise UsageError(f"{out} already exists; a bundle is only written to a new "
                         f"{'file' if encrypt else 'folder'}.", hint="Give another name for OUT.")
    if out.resolve().is_relative_to(case.root.resolve()):
        raise UsageError(f"{out} is inside the case folder.", hint="Write the bundle outside the case.")
    return out


def write_bundle(case: Case, out: Path, party: str | None = None, passphrase: str | None = None,
                 selection: Selection = Selection()) -> BundleResult:
    """Write the bundle of ``case`` to the new folder ``out`` (or, with ``passphrase``, to the
    AES-256 zip ``out``); returns where it went and its payload's size. With a ``selection``, of
    the events it chooses (see :func:`assemble`)."""
    from commtrail.outputs.bundle_zip import write_encrypted

    out = bundle_target(case, out, party, passphrase is not None, selection)
    out.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    work = out.parent / f".{out.name}.partial-{os.getpid()}"
    bag_dir = work / (out.stem if passphrase is not None else "bag")
    take_back = None
    try:
        (bag_dir / "data").mkdir(parents=True, mode=0o700)
        with case.lock():
            if selection:
                selection.events(case)   # an empty selection is refused before any production is recorded
            # the numbers handed over never change; a bundle that fails takes its production back
            production, take_back = produce_undoably(case, "bundle", party)
            payload = assemble(case, bag_dir / "data", party, bundle_command(party, passphrase is not None, selection),
                               selection)
        with _timed(payload.seconds, "bag"):
            make_bag(bag_dir, case, party, payload, production)
        files, size = _payload_size(bag_dir)
        with _timed(payload.seconds, "encrypt"):
            if passphrase is not None:
                write_encrypted(bag_dir, out, passphrase)
            else:
                os.replace(bag_dir, out)
    except BaseException:
        if take_back is not None:
            take_back()
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return BundleResult(out, files, size, encrypted=passphrase is not None, seconds=payload.seconds)


def _payload_size(bag_dir: Path) -> tuple[int, int]:
    files = [p for p in (bag_dir / "data").rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)
