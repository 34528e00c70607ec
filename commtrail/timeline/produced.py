"""Produced exhibit numbers: once a bundle or a report has been handed over, its numbers never change.

``productions.jsonl`` in the case folder holds one JSON line per production, only ever appended to
(the file is rewritten whole and renamed into place, so a power cut leaves the old file or the new
one). A production freezes the number of every event the master holds then that no earlier
production froze: ``event_ids`` lists them in number order from ``first`` to ``last``. The master
is then built with these numbers kept (by ``event_id``, which no re-parse, party edit or new copy
changes); events added afterwards are numbered after the highest number ever produced, in time
order among themselves. A produced event that is no longer in the master (its staging file gone)
leaves its number unused: numbers are never given twice.

Before the first production the numbering is the plain exhibit order (time, then the address of
the representative copy); after it, the same inputs and the same productions give the same master.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from commtrail.atomic import write_text
from commtrail.errors import CaseError

if TYPE_CHECKING:   # DuckDB is imported only where dedup runs
    import duckdb

PRODUCTIONS_FILE = "productions.jsonl"
EXHIBIT_FORMAT = "CT-{:06d}"
# The exhibit order before any production: time (undated last), then the representative's address.
TIME_ORDER = "ts NULLS LAST, first"


@dataclass(frozen=True)
class Production:
    """One production: the events it froze, numbered ``first``..``last`` in ``event_ids`` order."""

    number: int
    by: str                  # the command: "bundle" or "report"
    scope: str               # "every party" or "party NAME"
    master_sha256: str
    first: int
    last: int
    event_ids: tuple[str, ...]

    @property
    def span(self) -> str:
        """``CT-000001 to CT-000120`` (the numbers this production froze; empty when none)."""
        return f"{exhibit_name(self.first)} to {exhibit_name(self.last)}" if self.event_ids else ""


def exhibit_name(number: int) -> str:
    """``CT-000123`` for 123."""
    return EXHIBIT_FORMAT.format(number)


def productions_path(root: Path) -> Path:
    return Path(root) / PRODUCTIONS_FILE


def read_productions(root: Path) -> list[Production]:
    """The productions of the case at ``root``, oldest first (none when the file does not exist)."""
    path = productions_path(root)
    if not path.exists():
        return []
    out = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            out.append(Production(int(d["production"]), str(d["by"]), str(d["scope"]), str(d["master_sha256"]),
                                  int(d["first"]), int(d["last"]), tuple(str(e) for e in d["event_ids"])))
        except (ValueError, KeyError, TypeError) as exc:
            raise CaseError(f"line {line_no} of {PRODUCTIONS_FILE} is not a production record ({exc}).",
                            file=str(path), hint="Restore the file from a backup of the case; it records which "
                            "exhibit numbers were handed over and must not be edited.") from None
    return out


def last_number(productions: list[Production]) -> int:
    """The highest exhibit number ever produced (0 before the first production)."""
    return max((p.last for p in productions if p.event_ids), default=0)


def produced_table(productions: list[Production]) -> pa.Table:
    """event_id -> produced number (int64), for every event any production froze."""
    ids = [e for p in productions for e in p.event_ids]
    numbers = [p.first + i for p in productions for i in range(len(p.event_ids))]
    return pa.table({"event_id": pa.array(ids, pa.string()), "number": pa.array(numbers, pa.int64())})


def numbering_sql(con: "duckdb.DuckDBPyConnection", productions: list[Production]) -> tuple[str, str, str]:
    """SQL pieces numbering the events of table ``occ`` (columns ``eid``, ``ts``, ``first``):
    (a join to add to ``FROM occ``, the window's ORDER BY, the 1-based number of a row whose 0-based
    position in that order is ``ord``). Produced events come first, in their produced order; the
    others follow in time order, numbered after the last produced number."""
    if not productions:
        return "", TIME_ORDER, "ord + 1"
    con.register("produced_in", produced_table(productions))
    con.execute("""CREATE TEMP TABLE frozen AS
        SELECT o.eid, p.number AS frozen FROM occ o JOIN produced_in p ON hexid(o.eid) = p.event_id""")
    con.unregister("produced_in")
    present = con.execute("SELECT count(*) FROM frozen").fetchone()[0]
    last = last_number(productions)
    return ("LEFT JOIN frozen USING (eid)", f"frozen NULLS LAST, {TIME_ORDER}",
            f"coalesce(frozen, {last} + ord - {present} + 1)")


def out_of_time_order(ts: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """For rows in exhibit order: True where a dated row is earlier than a row listed above it (or
    follows an undated one), which happens only to events numbered after a production."""
    if len(ts) == 0:
        return np.zeros(0, bool)
    dated = pc.is_valid(ts).to_numpy(zero_copy_only=False)
    values = pc.fill_null(ts.cast(pa.int64()), np.iinfo(np.int64).max).to_numpy(zero_copy_only=False)
    before = np.maximum.accumulate(np.concatenate([[np.iinfo(np.int64).min], values[:-1]]))
    return dated & (values < before)


def numbered_in_time_order(master_file: Path) -> bool:
    """True when no event of the master is earlier in time than one numbered before it: always so
    before the first production, and after it until an event earlier than a produced one is added."""
    return not out_of_time_order(pq.read_table(master_file, columns=["ts_utc"])["ts_utc"]).any()


def record_production(root: Path, master_file: Path, master_sha256: str, by: str, scope: str) -> Production | None:
    """Freeze the numbers of the master: append a production of the events no earlier production
    holds, and return it; with none new, return the latest production (None when the master is
    empty and nothing was ever produced). The caller holds the case's lock and updates its manifest."""
    productions = read_productions(root)
    master = pq.read_table(master_file, columns=["event_id", "exhibit"])
    known = {e for p in productions for e in p.event_ids}
    ids = master["event_id"].to_pylist()
    new = [(exhibit, event_id) for event_id, exhibit in zip(ids, master["exhibit"].to_pylist()) if event_id not in known]
    if not new:
        return productions[-1] if productions else None
    first = last_number(productions) + 1
    expected = [exhibit_name(first + i) for i in range(len(new))]
    if [exhibit for exhibit, _ in new] != expected:
        raise CaseError("master.parquet does not number the events the way productions.jsonl says it must, "
                        "so no production was recorded.", file=str(master_file),
                        hint="productions.jsonl was changed after the master was built: restore it from a backup of the "
                        "case (commtrail verify CASE names what changed).")
    production = Production(len(productions) + 1, by, scope, master_sha256, first, first + len(new) - 1,
                            tuple(event_id for _, event_id in new))
    line = json.dumps({"production": production.number, "by": by, "scope": scope,
                       "recorded_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
                       "master_sha256": master_sha256, "first": production.first, "last": production.last,
                       "event_ids": list(production.event_ids)}, ensure_ascii=False)
    path = productions_path(root)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    write_text(old + line + "\n", path)
    return production
