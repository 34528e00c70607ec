"""``manifest.sha256`` over everything in the case, and ``verify`` that re-hashes it.

originals/ and blobs/ are content-addressed: their names are their hashes, so writing the manifest
does not re-read them; ``verify`` does.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from commtrail.case import CASE_FILE, LOCK_FILE, PENDING_FILE, Case, is_temporary, is_working_file
from commtrail.atomic import write_text
from commtrail.inventory import read_inventory
from commtrail.timeline.master import read_master, staged_sources

MANIFEST = "manifest.sha256"
# Working files that are not part of the evidence (the tool's temporary files are not either:
# see case.is_temporary; verify reports those an interrupted command left).
IGNORED = re.compile(r"^(manifest\.sha256|%s|%s)$" % (re.escape(LOCK_FILE), re.escape(PENDING_FILE)))
CONTENT_ADDRESSED = ("originals/", "blobs/")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_STAGED = re.compile(r"^staging/([0-9a-f]{64})(?:\.rejects)?\.parquet$")


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def case_files(case: Case) -> list[str]:
    """Every file of the case that the manifest covers, as sorted POSIX paths relative to the case."""
    out = []
    for path in case.root.rglob("*"):
        if path.is_file() or path.is_symlink():
            rel = path.relative_to(case.root).as_posix()
            if not IGNORED.match(rel) and not is_temporary(rel):
                out.append(rel)
    return sorted(out)


def _digest(case: Case, rel: str) -> str:
    name = rel.rsplit("/", 1)[-1]
    if rel.startswith(CONTENT_ADDRESSED) and _HEX64.match(name):
        return name
    return sha256_file(case.root / rel)


def write_manifest(case: Case, written: list[Path] | None = None) -> Path:
    """Update manifest.sha256 (sha256sum format, sorted by path) after a step of the tool.

    ``written`` are the files that step wrote (or folders it rewrote whole): only they are re-hashed,
    so a file changed behind the tool's back stays "changed" for ``verify``. New files in originals/ and blobs/ (content-addressed)
    are added, and so are staging files of recorded sources that are not listed yet (an interrupted
    ingest wrote them; the one that finished its work did not). Without a manifest yet, or with
    ``written`` None, every file is hashed.

    It holds the case's lock and first removes what interrupted commands left behind; when the
    master is among ``written``, the ingest that wrote it is complete (its marker goes).
    """
    with case.lock():
        case.tidy()
        if written is None or not case.manifest_file.exists():
            listed = {rel: _digest(case, rel) for rel in case_files(case)}
        else:
            listed = read_manifest(case)
            for path in written:
                rel = Path(path).resolve().relative_to(case.root.resolve()).as_posix()
                if (case.root / rel).is_dir():   # a folder the step rewrote as a whole
                    listed = {k: v for k, v in listed.items() if not k.startswith(rel + "/")}
                    for inner in case_files(case):
                        if inner.startswith(rel + "/"):
                            listed[inner] = _digest(case, inner)
                elif (case.root / rel).is_file():
                    listed[rel] = _digest(case, rel)
                else:
                    listed.pop(rel, None)
            recorded = _recorded(case)
            for rel in case_files(case):
                if rel in listed:
                    continue
                staged = _STAGED.match(rel)
                if (rel.startswith(CONTENT_ADDRESSED) and _HEX64.match(rel.rsplit("/", 1)[-1])) or \
                        (staged and staged.group(1) in recorded):
                    listed[rel] = _digest(case, rel)
        _write_listed(case, listed)
        master = case.master_file.resolve()
        if written is not None and any(Path(p).resolve() == master for p in written):
            case.pending_file.unlink(missing_ok=True)
    return case.manifest_file


def update_entries(case: Case, rels: list[str]) -> None:
    """Re-hash only ``rels`` (paths relative to the case) in an existing manifest: for a file a step
    changes often and alone (annotations.jsonl), without the walk over the case that
    :func:`write_manifest` makes. Without a manifest yet it does nothing (the first one hashes all)."""
    with case.lock():
        if not case.manifest_file.exists():
            return
        try:
            listed = read_manifest(case)
        except ValueError:   # a damaged manifest is verify's to report; rewriting it would hide that
            return
        for rel in rels:
            if (case.root / rel).is_file():
                listed[rel] = sha256_file(case.root / rel)
            else:
                listed.pop(rel, None)
        _write_listed(case, listed)


def _write_listed(case: Case, listed: dict[str, str]) -> None:
    """manifest.sha256 in sha256sum format, sorted by path, written atomically."""
    write_text("".join(f"{digest}  {rel}\n" for rel, digest in sorted(listed.items())), case.manifest_file)


def _recorded(case: Case) -> set[str]:
    """The sha256 of every source in the inventory (none when it cannot be read: verify says so)."""
    try:
        return {row["sha256"] for row in read_inventory(case.sources_file)}
    except Exception:  # noqa: BLE001 - a damaged inventory is verify's to report, not this step's
        return set()


@dataclass
class Verification:
    missing: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    checked: int = 0
    # the user's working files (case.toml, the incident-log folder) that differ from the manifest:
    # (path, "changed" | "added" | "removed"); reported, never a failure
    edited: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.changed or self.extra or self.problems)


def read_manifest(case: Case) -> dict[str, str]:
    """path -> sha256 as listed in the manifest."""
    listed = {}
    for number, line in enumerate(case.manifest_file.read_text(encoding="utf-8").splitlines(), 1):
        digest, sep, rel = line.partition("  ")
        if not sep or not _HEX64.match(digest):
            raise ValueError(f"line {number} of manifest.sha256 is not '<sha256>  <path>'")
        listed[rel] = digest
    return listed


def verify(case: Case) -> Verification:
    """Re-hash every file against the manifest; check the master's occurrences against staging."""
    from commtrail.errors import CaseError

    result = Verification()
    if case.busy():
        raise CaseError("another commtrail command is working on this case right now, so its files are half "
                        "way through a change.", file=str(case.root), hint="Verify when it has finished.")
    if not case.manifest_file.exists():
        raise CaseError("this case has no manifest.sha256, so there is nothing to verify against.",
                        file=str(case.manifest_file), hint="Run commtrail ingest on the case first.")
    try:
        listed = read_manifest(case)
    except ValueError as exc:
        result.problems.append(str(exc))
        return result
    present = set(case_files(case))
    leftovers = case.leftovers(strict=True)
    for rel, digest in sorted(listed.items()):
        working = is_working_file(rel)
        if rel not in present:
            if working and rel != CASE_FILE:   # without case.toml the case cannot be used
                result.edited.append((rel, "removed"))
            else:
                result.missing.append(rel)
            continue
        if sha256_file(case.root / rel) == digest:
            result.checked += 1
        elif working:
            result.edited.append((rel, "changed"))
        else:
            result.checked += 1
            result.changed.append(rel)
    unlisted = (present - set(listed)) | set(leftovers)
    result.edited += [(rel, "added") for rel in sorted(unlisted) if is_working_file(rel)]
    result.edited.sort()
    result.extra = sorted(rel for rel in unlisted if not is_working_file(rel))
    if leftovers:
        result.problems.append(f"{len(leftovers)} temporary file(s) were left by an interrupted command; "
                               "running the command again (or any commtrail ingest) removes them")
    if case.pending_file.exists():
        result.problems.append("an ingest was interrupted before it rebuilt the master and the manifest; run "
                               "the same commtrail ingest again to finish it")
    _check_occurrences(case, result)
    _check_annotations(case, listed, result)
    return result


def _check_annotations(case: Case, listed: dict[str, str], result: Verification) -> None:
    """annotations.jsonl (the reviewer's, appended to by the tool, recorded in the manifest after
    every line): a broken hash chain or a line changed behind the tool's back, named by its line."""
    from commtrail.review.annotations import ANNOTATIONS_FILE, verify_annotations
    if (case.root / ANNOTATIONS_FILE).is_file():
        result.problems += verify_annotations(case, listed.get(ANNOTATIONS_FILE))


def _check_occurrences(case: Case, result: Verification) -> None:
    """Every occurrence listed in the master is a staged record, and every staged record is listed."""
    if not case.master_file.exists():
        return
    try:
        master = read_master(case, ["occurrences"])
    except Exception as exc:  # a damaged master is reported, not raised
        result.problems.append(f"master.parquet cannot be read: {exc}")
        return
    occ = pc.list_flatten(master["occurrences"]).combine_chunks() if master.num_rows else None
    listed = set()
    if occ is not None:
        listed = set(zip(occ.field("source_sha256").to_pylist(), occ.field("locator").to_pylist()))
    staged = set()
    total = 0
    try:
        sources = staged_sources(case)
    except Exception as exc:
        result.problems.append(f"sources.parquet cannot be read: {exc}")
        return
    for row in sources:
        try:
            t = pq.read_table(case.staging / f"{row['sha256']}.parquet", columns=["source_sha256", "locator"])
        except Exception as exc:
            result.problems.append(f"staging/{row['sha256']}.parquet cannot be read: {exc}")
            continue
        total += t.num_rows
        staged.update(zip(t["source_sha256"].to_pylist(), t["locator"].to_pylist()))
    n_occ = len(occ) if occ is not None else 0
    if n_occ != total:
        result.problems.append(f"the master lists {n_occ} copies but staging holds {total} records")
    for sha, loc in sorted(listed - staged)[:20]:
        result.problems.append(f"the master cites {loc} of source {sha[:12]}, which staging does not hold")
    for sha, loc in sorted(staged - listed)[:20]:
        result.problems.append(f"staged record {loc} of source {sha[:12]} is missing from the master")
