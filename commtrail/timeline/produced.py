"""Produced exhibit numbers: once a bundle or a report has been handed over, its numbers never change.

``productions.jsonl`` in the case folder holds one JSON line per production, only ever appended to
(the file is rewritten whole and renamed into place, so a power cut leaves the old file or the new
one). A production freezes the number of every event the master holds then that no earlier
production froze: ``event_ids`` lists them in number order from ``first`` to ``last``. The master
is then built with these numbers kept (by ``event_id``, which no re-parse, party edit or new copy
changes); events added afterwards are numbered after the highest number ever produced, in time
order among themselves. A produced event that is no longer in the master (its staging file gone)
leaves its number unused: numbers are never given twice.

When new keying rules (or a new conversation identity) give a produced event another ``event_id``,
the build carries its number to the event that now holds its copies (``carry_numbers``): the
previous master, trusted only when its SHA-256 is the one manifest.sha256 lists, names the copies
(source hash and locator) of the produced events the new master lacks. The carries of a build are
a line of their own, ``{"carried": [N...], "from": [OLD...], "to": [NEW...], ...}``, so later
builds keep them. Two produced events carried to one keep the lower number; the other is never
given again (``merged_numbers``).

Before the first production the numbering is the plain exhibit order (time, then the address of
the representative copy); after it, the same inputs and the same productions give the same master.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from commtrail.atomic import write_text
from commtrail.errors import CaseError
from commtrail.timeline.keys import vouched

if TYPE_CHECKING:   # DuckDB is imported only where dedup runs
    import duckdb

    from commtrail.case import Case

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


class Carry(NamedTuple):
    """A produced number moved from an event id the master no longer holds to the event holding its copies."""

    number: int
    from_id: str
    to_id: str


def exhibit_name(number: int) -> str:
    """``CT-000123`` for 123."""
    return EXHIBIT_FORMAT.format(number)


def productions_path(root: Path) -> Path:
    return Path(root) / PRODUCTIONS_FILE


def read_productions(root: Path) -> list[Production]:
    """The productions of the case at ``root``, oldest first (none when the file does not exist)."""
    return read_numbering(root)[0]


def produced_ids(root: Path) -> set[str]:
    """The ids of the events holding a produced number now."""
    return set(holders(*read_numbering(root)).values())


def read_numbering(root: Path) -> tuple[list[Production], list[Carry]]:
    """The productions and the carries productions.jsonl holds, each oldest first; a line that is
    neither, or a carry of a number its ``from`` id does not hold then, is refused."""
    path = productions_path(root)
    out: tuple[list[Production], list[Carry]] = ([], [])
    if not path.exists():
        return out
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            if "carried" in d:
                held = holders(*out)
                for carry in (Carry(int(n), str(f), str(t)) for n, f, t in zip(d["carried"], d["from"], d["to"],
                                                                                 strict=True)):
                    if held.get(carry.number) != carry.from_id:
                        raise ValueError(f"{carry.from_id} does not hold number {carry.number}")
                    held[carry.number] = carry.to_id
                    out[1].append(carry)
            else:
                out[0].append(Production(int(d["production"]), str(d["by"]), str(d["scope"]),
                                         str(d["master_sha256"]), int(d["first"]), int(d["last"]),
                                         tuple(str(e) for e in d["event_ids"])))
        except (ValueError, KeyError, TypeError) as exc:
            raise CaseError(f"line {line_no} of {PRODUCTIONS_FILE} is not a production record ({exc}).",
                            file=str(path), hint="Restore the file from a backup of the case; it records which "
                            "exhibit numbers were handed over and must not be edited.") from None
    return out


def last_number(productions: list[Production]) -> int:
    """The highest exhibit number ever produced (0 before the first production)."""
    return max((p.last for p in productions if p.event_ids), default=0)


def holders(productions: Sequence[Production], carries: Sequence[Carry] = ()) -> dict[int, str]:
    """Produced number -> the event id holding it now (carries applied)."""
    held = {p.first + i: e for p in productions for i, e in enumerate(p.event_ids)}
    held.update((c.number, c.to_id) for c in carries)
    return held


def produced_numbers(productions: Sequence[Production], carries: Sequence[Carry] = ()) -> dict[str, int]:
    """Event id -> its exhibit number: the lowest produced number it holds."""
    numbers: dict[str, int] = {}
    for number, event_id in sorted(holders(productions, carries).items()):
        numbers.setdefault(event_id, number)
    return numbers


def merged_numbers(productions: Sequence[Production], carries: Sequence[Carry]) -> list[tuple[int, int]]:
    """(number, the number of the event it is now part of) for produced numbers carried to an event
    holding a lower one, in number order."""
    numbers = produced_numbers(productions, carries)
    return [(n, numbers[e]) for n, e in sorted(holders(productions, carries).items()) if numbers[e] != n]


def produced_table(productions: Sequence[Production], carries: Sequence[Carry] = ()) -> pa.Table:
    """event_id -> produced number (int64, the lowest it holds), for every event holding one."""
    if carries:
        numbers = produced_numbers(productions, carries)
        ids, values = list(numbers), list(numbers.values())
    else:   # each event holds one number
        ids = [e for p in productions for e in p.event_ids]
        values = [p.first + i for p in productions for i in range(len(p.event_ids))]
    return pa.table({"event_id": pa.array(ids, pa.string()), "number": pa.array(values, pa.int64())})


def numbering_sql(con: "duckdb.DuckDBPyConnection", productions: Sequence[Production],
                  carries: Sequence[Carry] = ()) -> tuple[str, str, str]:
    """SQL pieces numbering the events of table ``occ`` (columns ``eid``, ``ts``, ``first``):
    (a join to add to ``FROM occ``, the window's ORDER BY, the 1-based number of a row whose 0-based
    position in that order is ``ord``). Produced events come first, in their produced order; the
    others follow in time order, numbered after the last produced number."""
    if not productions:
        return "", TIME_ORDER, "ord + 1"
    con.register("produced_in", produced_table(productions, carries))
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
    productions, carries = read_numbering(root)
    master = pq.read_table(master_file, columns=["event_id", "exhibit"])
    known = set(holders(productions, carries).values())
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
                       "recorded_at": _now(),
                       "master_sha256": master_sha256, "first": production.first, "last": production.last,
                       "event_ids": list(production.event_ids)}, ensure_ascii=False)
    _append(root, line)
    return production


def _append(root: Path, line: str) -> None:
    """Add a line to productions.jsonl (the whole file written anew and renamed into place)."""
    path = productions_path(root)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    write_text(old + line + "\n", path)


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def carry_numbers(con: "duckdb.DuckDBPyConnection", case: "Case",
                  warn: Callable[[str], None]) -> tuple[list[Production], list[Carry]]:
    """Carry the produced numbers whose event ids the new events of table ``occ`` (``eid``, ``copies``:
    addresses source index << 32 | row, sources in table ``src``) lack to the event now holding
    the first of their copies the previous master names (a ``carried`` line in productions.jsonl,
    which the caller adds to the manifest). Numbers whose copies are all gone stay unused; without
    a previous master that manifest.sha256 vouches for, nothing is carried and ``warn`` says so.
    The caller holds the case's lock and replaces the master afterwards. Returns the productions
    and the carries, these included."""
    productions, carries = read_numbering(case.root)
    if not productions:
        return productions, carries
    con.register("produced_in", produced_table(productions, carries))
    gone = {event_id for (event_id,) in con.execute("""SELECT event_id FROM produced_in
        WHERE ('0x' || event_id)::UHUGEINT NOT IN (SELECT eid FROM occ)""").fetchall()}
    con.unregister("produced_in")
    if not gone:
        return productions, carries
    missing = [(number, event_id) for number, event_id in sorted(holders(productions, carries).items())
               if event_id in gone]
    digest, distrust = _trusted_master(case)
    if distrust:
        warn(f"{len(missing)} produced exhibit number(s) ({exhibit_name(missing[0][0])} first) name events this "
             f"build no longer holds under these ids, and {distrust}, so their numbers could not be carried to the "
             "events now holding those messages: the numbers stay unused (never given again) and those messages, "
             "if still in the case, are numbered after the last produced number. A copy of the case made before "
             "this build still shows which messages the numbers were given to.")
        return productions, carries
    moved = _new_holders(con, case, sorted(gone))
    new = [Carry(number, old, moved[old]) for number, old in missing if old in moved]
    if new:
        numbers, froms, tos = zip(*new)
        _append(case.root, json.dumps({"carried": numbers, "from": froms, "to": tos, "recorded_at": _now(),
                                       "master_sha256": digest}))
    return productions, carries + new


def _trusted_master(case: "Case") -> tuple[str, str]:
    """(the previous master's SHA-256, why it or productions.jsonl cannot be trusted for a carry:
    "" when manifest.sha256 lists both as they are)."""
    if not case.master_file.is_file():
        return "", "there is no previous master.parquet to find their messages in"
    digests, unvouched = vouched(case.root, case.manifest_file, (case.master_file.name, PRODUCTIONS_FILE))
    if unvouched is not None:
        return "", f"the previous {unvouched} is not the one manifest.sha256 lists"
    return digests[case.master_file.name], ""


def _new_holders(con: "duckdb.DuckDBPyConnection", case: "Case", old_ids: list[str]) -> dict[str, str]:
    """Old event id -> the id of the event of ``occ`` holding the first of its copies (in the previous
    master's order) that is still staged, found by source hash and locator (the first staged row of
    that locator, should a source repeat one)."""
    con.execute("CREATE TEMP TABLE carry_old AS SELECT unnest(?::VARCHAR[]) AS event_id", [old_ids])
    con.execute("""CREATE TEMP TABLE carry_copies AS
        SELECT c.event_id, c.i, s.idx, c.o.locator AS locator
        FROM (SELECT event_id, unnest(generate_series(1, len(occurrences))) AS i, unnest(occurrences) AS o
              FROM read_parquet(?) SEMI JOIN carry_old USING (event_id)) c
        JOIN src s ON s.sha256 = c.o.source_sha256""", [str(case.master_file)])
    shas = con.execute("SELECT idx, sha256 FROM src SEMI JOIN carry_copies USING (idx) ORDER BY idx").fetchall()
    found: dict[str, str] = {}
    if shas:
        files = [str(case.staging / f"{sha}.parquet") for _, sha in shas]
        con.execute("CREATE TEMP TABLE carry_files AS SELECT unnest(?::INTEGER[]) AS idx, unnest(?::VARCHAR[]) AS file",
                    [[idx for idx, _ in shas], files])
        found = dict(con.execute("""
            WITH staged AS (
                SELECT f.idx, r.locator, (f.idx::UBIGINT << 32) | r.file_row_number::UBIGINT AS k
                FROM read_parquet(?::VARCHAR[], filename = true, file_row_number = true) r
                JOIN carry_files f ON f.file = r.filename),
            copies AS (SELECT eid, unnest(copies) AS k FROM occ)
            SELECT c.event_id, arg_min(hexid(n.eid), (c.i::HUGEINT << 64) + k::HUGEINT)
            FROM carry_copies c JOIN staged USING (idx, locator) JOIN copies n USING (k)
            GROUP BY c.event_id""", [files]).fetchall())
        con.execute("DROP TABLE carry_files")
    con.execute("DROP TABLE carry_copies")
    con.execute("DROP TABLE carry_old")
    return found
