"""The master evidence file as flat numpy columns, with local (case-zone) times, for the analysis.

Loaded once; every figure of the analysis is a vectorised count over these columns. Rows keep
their position in the master (``row``), which is exhibit order, so that every figure can name the
exhibits behind it (:class:`Exhibits`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from commtrail.case import Case
from commtrail.outputs.contact import classify
from commtrail.outputs.labels import UNKNOWN
from commtrail.timeline.master import read_master
from commtrail.timeline.utclocal import to_local_us

US_PER_DAY = 86_400_000_000
US_PER_HOUR = 3_600_000_000
# 1970-01-01 was a Thursday: weekday (Monday = 0) of a day number is (day + 3) % 7
EPOCH_WEEKDAY = 3


class Exhibits(Sequence[str]):
    """The exhibit numbers of some master rows, resolved only when read (figures may cover many rows)."""

    __slots__ = ("_names", "_rows")

    def __init__(self, names: pa.Array | pa.ChunkedArray, rows: np.ndarray) -> None:
        self._names = names
        self._rows = np.asarray(rows, dtype=np.int64)

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return Exhibits(self._names, self._rows[index])
        return self._names[int(self._rows[index])].as_py()

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_list())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (Exhibits, list, tuple)):
            return list(self) == list(other)
        return NotImplemented

    def __repr__(self) -> str:
        names = self.to_list()
        shown = ", ".join(names[:5]) + (f", … ({len(names)} in all)" if len(names) > 5 else "")
        return f"Exhibits([{shown}])"

    @property
    def rows(self) -> np.ndarray:
        """Positions of the rows in master.parquet (exhibit order)."""
        return self._rows

    def to_list(self) -> list[str]:
        if not len(self._rows):
            return []
        return self._names.take(pa.array(self._rows)).to_pylist()


def no_exhibits() -> Exhibits:
    return Exhibits(pa.array([], pa.string()), np.empty(0, dtype=np.int64))


@dataclass
class Frame:
    """Dated master rows as numpy columns, sorted by (group, time, row)."""

    zone: str
    rows: int                       # rows in the master, dated or not
    row: np.ndarray                 # position in the master
    ts: np.ndarray                  # int64 microseconds since the epoch, UTC
    local: np.ndarray               # int64 microseconds of local wall-clock time (the case's zone)
    day: np.ndarray                 # local calendar day number (days since 1970-01-01)
    hour: np.ndarray                # local hour of day 0-23
    weekday: np.ndarray             # local weekday, Monday = 0
    channel: np.ndarray             # codes into ``channels``
    channels: list[str]
    kind: np.ndarray                # codes into ``kinds``
    kinds: list[str]
    direction: np.ndarray           # codes into ``directions``
    directions: list[str]
    group: np.ndarray               # codes into ``groups`` (party names and UNKNOWN)
    groups: list[str]
    duration: np.ndarray            # float seconds, NaN when unknown
    exhibit: pa.ChunkedArray        # exhibit names, indexed by master position
    contact: np.ndarray             # bool: the row is a contact (outputs/contact.py)
    incident: np.ndarray            # bool: the row is an incident of the owner's log
    unsent: np.ndarray              # int8: index into contact.NOT_SENT, -1 when the row was sent
    span: tuple[int, int] | None    # first and last time (µs UTC) of any dated row, any party
    undated: dict[str, int] = field(default_factory=dict)
    bounds: dict[int, tuple[int, int]] = field(default_factory=dict)   # group code -> slice

    def code(self, values: list[str], name: str) -> int:
        """The code of ``name`` in a category list (-2 when absent, so it matches nothing)."""
        return values.index(name) if name in values else -2

    def group_slice(self, name: str) -> slice:
        code = self.code(self.groups, name)
        lo, hi = self.bounds.get(code, (0, 0))
        return slice(lo, hi)

    def exhibits(self, positions: np.ndarray) -> Exhibits:
        """Exhibits of frame positions (indices into these arrays)."""
        return Exhibits(self.exhibit, self.row[positions])

    def take(self, positions: np.ndarray) -> np.ndarray:
        return self.row[positions]


def _codes(column: pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    """Dictionary (or string) column -> (int codes with -1 for null, category names)."""
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column)
    column = column.unify_dictionaries()
    if column.num_chunks == 0:
        return np.zeros(0, np.int32), []
    names = column.chunk(0).dictionary.to_pylist()
    codes = np.concatenate([c.indices.fill_null(-1).to_numpy(zero_copy_only=False) for c in column.chunks])
    return codes.astype(np.int32), names


FRAME_COLUMNS = ["ts_utc", "channel", "kind", "direction", "party", "duration_s", "exhibit", "flags"]


def load_frame(case: Case, party_names: list[str], table: pa.Table | None = None) -> Frame:
    """The master's analysis columns (from ``table`` when given, which holds at least FRAME_COLUMNS);
    ``party_names`` gives the order of the groups."""
    if table is None:
        table = read_master(case, FRAME_COLUMNS)
    zone = case.config.timezone
    exhibit = table["exhibit"] if table.num_rows else pa.chunked_array([], pa.string())
    ts_col = table["ts_utc"]
    dated = pc.is_valid(ts_col).to_numpy(zero_copy_only=False) if table.num_rows else np.zeros(0, bool)
    party_col = table["party"].fill_null(UNKNOWN) if table.num_rows else pa.chunked_array([], pa.string())
    party, present = _codes(party_col) if table.num_rows else (np.zeros(0, np.int32), [])
    groups = list(party_names) + sorted(p for p in present if p not in party_names and p != UNKNOWN) + [UNKNOWN]
    remap = np.array([groups.index(p) for p in present] or [0], dtype=np.int32)
    group = remap[party] if len(party) else party

    undated = {}
    if not dated.all():
        counts = np.bincount(group[~dated], minlength=len(groups))
        undated = {groups[i]: int(c) for i, c in enumerate(counts) if c}

    row = np.flatnonzero(dated).astype(np.int64)
    ts = ts_col.cast(pa.int64()).to_numpy(zero_copy_only=False)[row].astype(np.int64) if len(row) else \
        np.zeros(0, np.int64)
    group = group[row]
    channel, channels = _codes(table["channel"]) if table.num_rows else (np.zeros(0, np.int32), [])
    kind, kinds = _codes(table["kind"]) if table.num_rows else (np.zeros(0, np.int32), [])
    direction, directions = _codes(table["direction"]) if table.num_rows else (np.zeros(0, np.int32), [])
    duration = table["duration_s"].cast(pa.float64()).to_numpy(zero_copy_only=False) if table.num_rows else \
        np.zeros(0)
    classes = classify(table)
    channel, kind, direction, duration = channel[row], kind[row], direction[row], duration[row]
    contact, incident, unsent = classes.contact[row], classes.incident[row], classes.unsent[row]
    # null channel/kind/direction get a readable name instead of -1
    channels, channel = _named_nulls(channels, channel, "(none)")
    kinds, kind = _named_nulls(kinds, kind, "(none)")
    directions, direction = _named_nulls(directions, direction, "unknown")

    span = (int(ts.min()), int(ts.max())) if len(ts) else None
    # sort by group, then time, then master position (stable: the master is in time order already)
    if len(ts) and not (np.all(np.diff(ts) >= 0)):
        order = np.lexsort((row, ts, group))
    else:
        order = np.argsort(group.astype(np.int16 if len(groups) < 32_000 else np.int32), kind="stable")  # radix
    row, ts, group = row[order], ts[order], group[order]
    channel, kind, direction, duration = channel[order], kind[order], direction[order], duration[order]
    contact, incident, unsent = contact[order], incident[order], unsent[order]

    local = to_local_us(ts, zone)
    day = np.floor_divide(local, US_PER_DAY)
    hour = (np.floor_divide(local, US_PER_HOUR) % 24).astype(np.int8)
    weekday = ((day + EPOCH_WEEKDAY) % 7).astype(np.int8)
    starts = np.searchsorted(group, np.arange(len(groups) + 1), side="left")
    bounds = {g: (int(starts[g]), int(starts[g + 1])) for g in range(len(groups))}
    return Frame(zone, table.num_rows, row, ts, local, day, hour, weekday, channel, channels, kind, kinds,
                 direction, directions, group, groups, duration, exhibit, contact, incident, unsent, span, undated,
                 bounds)


def _named_nulls(names: list[str], codes: np.ndarray, label: str) -> tuple[list[str], np.ndarray]:
    if not (codes < 0).any():
        return names, codes
    names = list(names)
    if label not in names:
        names.append(label)
    codes = codes.copy()
    codes[codes < 0] = names.index(label)
    return names, codes


