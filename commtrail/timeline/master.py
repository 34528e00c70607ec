"""The master evidence file: every staged record, deduplicated without loss, in exhibit order (time
order until exhibit numbers are produced, see timeline/produced.py)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from commtrail.case import Case
from commtrail.errors import CaseError
from commtrail.atomic import atomic_path, write_table
from commtrail.inventory import read_inventory
from commtrail.terminal import make_console, say
from commtrail.timeline import assemble
from commtrail.timeline.assemble import (BUCKETS_PER_FILE, MasterWriter, Sources, ahead, assemble_in_staging_order,
                                         assemble_master, one_pass_plan, spooled)
from commtrail.timeline.case_settings import metadata_of, recorded_settings
from commtrail.timeline.keys import KEYS_DIR
from commtrail.timeline.produced import carry_numbers, produced_ids
from commtrail.timeline.schema import MASTER_SCHEMA
from commtrail.timeline.reuse import shared_groups, source_tokens, write_record
from commtrail.timeline.screenshots import LINKS_FILE, write_links
from commtrail.timeline.splice import spliced

if TYPE_CHECKING:
    import duckdb

CONSISTENCY_FILE = "possibly_deleted.parquet"
# What build_master writes besides the master (each rewritten, or removed, by every build; the
# folder of key files as a whole, see timeline/keys.py).
DERIVED_FILES = (CONSISTENCY_FILE, LINKS_FILE, KEYS_DIR)


def staged_sources(case: Case) -> list[dict]:
    """Inventory rows whose staging file is present (orphans of an interrupted run are ignored)."""
    rows = [r for r in read_inventory(case.sources_file) if (case.staging / f"{r['sha256']}.parquet").exists()]
    return sorted(rows, key=lambda r: r["sha256"])


def build_master(case: Case, warn: Callable[[str], None] | None = None) -> int:
    """Rebuild ``master.parquet`` (and the possibly-deleted list and the screenshot links, see
    screenshots.py) from staging; returns the row count. Produced numbers whose events now have
    other ids are carried to them (timeline/produced.py); ``warn`` (by default a line on stderr)
    says when they cannot be.

    Parties come from the case.toml of now; the master records what it was built with
    (case_settings), so a later edit of case.toml is noticed. Sources keyed by an earlier build
    are not read again (their key files, timeline/keys.py), and the leading rows the last master
    holds alike are copied from it (timeline/reuse.py): the same master, sooner."""
    from commtrail.timeline.dedup import run_dedup   # DuckDB only where dedup runs
    warn = warn or warn_on_stderr
    sources = staged_sources(case)
    files = [case.staging / f"{r['sha256']}.parquet" for r in sources]
    tmp = case.root / ".duckdb-tmp"
    rows = 0
    try:
        with ThreadPoolExecutor(1) as loader:
            named = loader.submit(Sources, files, sources)  # read while DuckDB works
            session = run_dedup(files, sources, case.config, tmp, keys_of=case,
                                produced=lambda: produced_ids(case.root))
            with atomic_path(case.master_file) as out:
                try:
                    write_table(session.possibly_deleted(), case.root / CONSISTENCY_FILE)
                    counts = session.index_representatives(*carry_numbers(session.con, case, warn))
                    metadata = metadata_of(case.config)
                    digests = session.group_digests(assemble.ROW_GROUP_ROWS, source_tokens(sources, session.prints))
                    groups = shared_groups(case, digests, assemble.ROW_GROUP_ROWS, metadata)
                    kept = groups * assemble.ROW_GROUP_ROWS
                    if kept:
                        counts = session.drop_leading(kept)
                    with _sink(out, case.master_file, groups) as sink, MasterWriter(sink, metadata) as writer:
                        # as many rows held as two of the general path's files at most
                        in_order = one_pass_plan(session.buckets_in_staging_order(), 2 * BUCKETS_PER_FILE)
                        if in_order is not None:   # one pass; the next table made while one is written
                            representatives = spooled(session.representatives_reader()(0, len(files) - 1),
                                                      tmp / "representatives.arrow")
                            session.close()   # DuckDB's memory goes back before the rows are assembled
                            tables = ahead(assemble_in_staging_order(representatives, in_order, named.result(), kept))
                        else:   # the next bucket is sorted while one is written
                            tables = assemble_master(session.representatives_reader, counts, named.result(), tmp, kept)
                        for table in tables:
                            writer.write(table)
                    rows = kept + writer.rows
                finally:
                    session.close()
            write_record(case, digests)
            write_links(case.master_file, case.root / LINKS_FILE, case.config.timezone)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def _sink(out: Path, last: Path, groups: int) -> AbstractContextManager[Path | BinaryIO]:
    """Where MasterWriter writes the master: ``out``, after the first ``groups`` row groups of the
    last master copied (timeline/splice.py) when there are any."""
    return spliced(out, last, groups) if groups else nullcontext(out)


def warn_on_stderr(text: str) -> None:
    """One warning line on stderr."""
    say(make_console(stderr=True), f"Warning: {text}")


def query_connection(memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection for read-only queries over the case's Parquet files (the review app, the
    identifier list): it never installs or loads an extension, never spills to disk (no temporary
    folder in the case or the working folder), reads times in UTC, on two threads."""
    import duckdb   # only where a query runs
    config = {"autoinstall_known_extensions": False, "autoload_known_extensions": False, "threads": 2}
    if memory_limit is not None:
        config["memory_limit"] = memory_limit
    con = duckdb.connect(config=config)
    con.execute("SET temp_directory = ''")
    con.execute("SET enable_progress_bar = false")
    con.execute("SET TimeZone = 'UTC'")
    return con


def read_master(case: Case, columns: list[str] | None = None) -> pa.Table:
    """The master evidence file (empty when nothing was ingested)."""
    if not case.master_file.exists():
        return MASTER_SCHEMA.empty_table()
    return pq.read_table(case.master_file, columns=columns, schema=MASTER_SCHEMA)


def master_settings(case: Case) -> dict | None:
    """The case.toml settings the master was built with (None: no master, or one that predates them).
    A master that cannot be read as Parquet is a CaseError saying how to build it again."""
    if not case.master_file.exists():
        return None
    try:
        metadata = pq.read_schema(case.master_file).metadata
    except (pa.ArrowException, OSError) as exc:
        raise CaseError(f"master.parquet cannot be read ({exc}): it is damaged, or it was changed outside "
                        "commtrail.", file=str(case.master_file),
                        hint=f"`commtrail verify {case.root}` lists what changed in the case. The master is made "
                        "from the case's staged sources: move master.parquet out of the case folder (keep it if it "
                        f"may matter), then run `commtrail ingest {case.root}` with no files to build it again.") \
            from None
    return recorded_settings(metadata)


def missing_master(case: Case) -> CaseError | None:
    """The error for a case whose master is missing although sources were staged (None otherwise):
    reading it as an empty timeline would state that the case holds nothing."""
    if case.master_file.exists() or not staged_sources(case):
        return None
    return CaseError("master.parquet is missing, although sources were ingested into this case.",
                     file=str(case.master_file),
                     hint=f"Run `commtrail ingest {case.root}` with no files to build it again from the staged "
                     f"sources; `commtrail verify {case.root}` lists anything else that is missing.")


def read_possibly_deleted(case: Case) -> pa.Table | None:
    """Events an earlier backup holds and a later overlapping one lacks (None before any build)."""
    path = case.root / CONSISTENCY_FILE
    return pq.read_table(path) if path.exists() else None
