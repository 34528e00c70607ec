"""Transparent figures per party over the master evidence file: counts that point to their rows.

``analyse(case, party=None) -> CaseAnalysis`` computes, for each party of case.toml (and for all
identifiers not linked to a party, together, as "(unknown)"):

- contacts per day and per week by channel and direction; counts and weekly rates in the 30 days
  before and after each case.toml event and from each event to the end of the records; the time
  from each event to the next contact;
- persistence (days with contact, longest run of consecutive days, first and last contact), the
  night-time share (22:00-06:00 in the case's zone) and the hour-of-day x weekday pattern;
- bursts (most contacts in any rolling 60-minute window and in any calendar day), calls repeated
  within 10 minutes, incoming contacts with no outgoing reply within 24 hours;
- calls by kind per week, every identifier used with its case.toml link, red-flag phrases.

What counts as a contact is decided in one place (:mod:`commtrail.outputs.contact`): system lines
are not contacts; incidents and never-sent messages (drafts, failed, ...) are counted on their own.
Every figure keeps the exhibits behind it (:class:`~commtrail.outputs.frame.Exhibits`). There is no
score: only counts, times and the rows they come from. Times are shown in the case's zone.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from commtrail.case import Case, CaseConfig
from commtrail.errors import UsageError
from commtrail.outputs.contact import NOT_SENT
from commtrail.outputs.frame import FRAME_COLUMNS, UNKNOWN, US_PER_DAY, Exhibits, Frame, load_frame, no_exhibits
from commtrail.outputs.labels import CALL_LABELS, CALL_ORDER, WEEKDAYS, WINDOW_DAYS
from commtrail.outputs.redflags import Phrase, find_hits, phrase_list
from commtrail.outputs.slugs import case_slugs, party_names, slug
from commtrail.timeline.identity import describe, kind_of, phone_check
from commtrail.timeline.master import read_master
from commtrail.timeline.schema import DIRECTIONS
from commtrail.timeline.utclocal import local_datetime

NIGHT_FROM, NIGHT_TO = 22, 6            # night: 22:00 to 06:00 local time
BURST_MINUTES = 60
REPEAT_CALL_MINUTES = 10
REPLY_HOURS = 24
UTC = timezone.utc


# ----------------------------------------------------------------------------------------------
# The figures


@dataclass
class Moment:
    """One row: its time in the case's zone and its exhibit number."""

    local: datetime
    exhibit: str


@dataclass
class CaseEvent:
    """A case.toml event, as the analysis shows it."""

    index: int
    when: datetime          # case-local
    kind: str
    note: str
    line: int


@dataclass
class Window:
    """Contacts in one period: [start, end) in case-local time."""

    label: str                          # "30 days before", "30 days after", "after"
    start: datetime                     # included
    end: datetime                       # excluded; for "after": the last record, included
    days: float                         # length of the period
    covered_days: float                 # the part of it the records cover
    counts: dict[str, int]              # by direction
    incoming_by_channel: dict[str, int]
    per_week: dict[str, float | None]   # by direction, count / (covered days / 7); None when under a day
    channels: int                       # channels the party used (incoming)
    identifiers: dict[str, int]         # distinct identifiers the party used (incoming), by kind


@dataclass
class EventFigures:
    event: CaseEvent
    before: Window                      # the 30 days before the event
    after: Window                       # the 30 days after it
    total_after: Window                 # from the event to the end of the records
    next_contact: Moment | None         # the first incoming contact at or after the event
    next_contact_seconds: float | None


@dataclass
class Run:
    days: int
    start: date
    end: date


@dataclass
class Persistence:
    days_with_contact: int
    longest_run: Run | None             # consecutive calendar days (case-local) with contact
    first: Moment | None
    last: Moment | None


@dataclass
class Night:
    contacts: int
    total: int
    share: float | None
    from_hour: int
    to_hour: int
    exhibits: Exhibits


@dataclass
class Burst:
    count: int
    basis: str                          # "rolling 60-minute window" or "calendar day"
    start: datetime                     # first contact in it (window) / midnight (day)
    end: datetime                       # last contact in it
    by_channel: dict[str, int]
    exhibits: Exhibits


@dataclass
class CallSeries:
    calls: int
    start: datetime
    end: datetime
    kinds: dict[str, int]
    exhibits: Exhibits


@dataclass
class RepeatedCalls:
    within_minutes: int
    calls: int                          # calls in this direction
    series: list[CallSeries]            # 2+ calls each within 10 minutes of the one before
    repeats: int                        # calls made within 10 minutes of the one before
    longest: CallSeries | None


@dataclass
class DirectionFigures:
    direction: str
    total: int
    by_channel: dict[str, int]
    persistence: Persistence
    night: Night
    hour_weekday: list[list[int]]       # 7 rows (Monday first) x 24 hours, case-local
    busiest_hour: Burst | None
    busiest_day: Burst | None
    repeated_calls: RepeatedCalls


@dataclass
class Unanswered:
    within_hours: int
    considered: int                     # incoming contacts, answered calls left out, whose window is known
    unanswered: int
    by_channel: dict[str, int]
    exhibits: Exhibits
    not_known: int = 0                  # no reply, but the records end within the window


@dataclass
class WeekCount:
    week: date                          # Monday, case-local
    counts: dict[str, int]


@dataclass
class CallKinds:
    totals: dict[str, int]              # label -> calls, labels in CALL_ORDER
    weeks: list[WeekCount]


@dataclass
class CountRow:
    period: date                        # a day, or the Monday of a week
    channel: str
    direction: str
    count: int


@dataclass
class Identifier:
    identifier: str                     # normalised: E.164, e-mail, wa:<name>, ...
    display: str
    kind: str                           # phone, email, whatsapp, short, alpha, withheld, other
    count: int
    incoming: int
    outgoing: int
    channels: list[str]
    first: Moment
    last: Moment
    days_used: list[date]
    link: dict | None                   # the case.toml entry: key, raw, line (None: not listed)
    first_after: dict | None            # the latest case event before first use: index, kind, days
    check: str | None = None            # phones: what the numbering plan says (identity.phone_check)


@dataclass
class RedFlagHit:
    exhibit: str
    local: datetime
    direction: str
    channel: str
    field: str                          # "body" or "subject"
    phrases: list[str]
    groups: list[str]
    text: str                           # verbatim


@dataclass
class RedFlags:
    source: str
    hits: list[RedFlagHit]
    by_phrase: dict[str, int]           # texts containing each phrase (phrases with hits)
    by_direction: dict[str, int]


@dataclass
class PartyAnalysis:
    name: str
    slug: str
    listed: bool                        # a [[party]] of case.toml (False for "(unknown)")
    contacts: int
    by_direction: dict[str, int]
    by_channel: dict[str, dict[str, int]]   # channel -> direction -> count
    daily: list[CountRow]
    weekly: list[CountRow]
    incoming: DirectionFigures
    outgoing: DirectionFigures
    events: list[EventFigures]
    unanswered: Unanswered
    calls: CallKinds
    identifiers: list[Identifier]
    red_flags: RedFlags
    incidents: int
    incident_exhibits: Exhibits
    system_lines: int
    unsent: dict[str, int]              # never-sent flag (draft, failed, ...) -> messages, not contacts
    unsent_exhibits: Exhibits
    undated: int


@dataclass
class CaseAnalysis:
    title: str
    timezone: str
    owner: str
    master_rows: int
    first_record: datetime | None
    last_record: datetime | None
    events: list[CaseEvent]
    parties: list[PartyAnalysis]
    red_flag_source: str
    red_flag_phrases: list[str]
    definitions: dict[str, str] = field(default_factory=dict)

    def party(self, name: str) -> PartyAnalysis:
        for p in self.parties:
            if p.name == name:
                return p
        raise KeyError(name)

    def to_dict(self, exhibits: bool = True) -> dict:
        """Plain JSON-ready data (dates as ISO-8601). ``exhibits=False`` summarises exhibit lists."""
        return _plain(self, exhibits)


_FIELDS: dict[type, tuple[str, ...]] = {}


def _plain(value: Any, exhibits: bool) -> Any:
    kind = type(value)
    if kind in (str, int, float, bool) or value is None:
        return value
    names = _FIELDS.get(kind)
    if names is None and is_dataclass(value) and not isinstance(value, type):
        names = _FIELDS[kind] = tuple(f.name for f in fields(value))
    if names is not None:
        return {name: _plain(getattr(value, name), exhibits) for name in names}
    if isinstance(value, (list, tuple)):
        return [_plain(v, exhibits) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v, exhibits) for k, v in value.items()}
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Exhibits):
        if exhibits:
            return value.to_list()
        return {"count": len(value), "first": value[0] if len(value) else None,
                "last": value[len(value) - 1] if len(value) else None}
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


DEFINITIONS = {
    "contact": "a message, call or e-mail in the master file that was sent or received; system lines, incidents "
               "and messages never sent (drafts, failed, queued or left in the outbox) are not contacts",
    "incoming": "from the other person to the owner",
    "outgoing": "from the owner to the other person",
    "week": "Monday to Sunday, in the case's time zone",
    "night": f"{NIGHT_FROM:02d}:00 to {NIGHT_TO:02d}:00 in the case's time zone",
    "window": f"{WINDOW_DAYS} calendar days before or after the event's local time",
    "rate per week": "the count divided by the days of the period the records cover, times 7",
    "busiest hour": f"the most contacts within any {BURST_MINUTES} minutes (a rolling window)",
    "busiest day": "the most contacts on one calendar day (midnight to midnight, local time)",
    "repeated calls": f"calls each made within {REPEAT_CALL_MINUTES} minutes of the one before",
    "unanswered": f"incoming contacts with no outgoing contact to the same person within {REPLY_HOURS} hours "
                  "(answered calls are not counted, nor contacts less than "
                  f"{REPLY_HOURS} hours before the end of the records)",
    "answered call": "an incoming call of kind 'incoming', or another incoming call with a duration",
    "red flag": "a listed phrase found as whole words, in any case",
}


# ----------------------------------------------------------------------------------------------
# Entry point


def resolve_party(config: CaseConfig, name: str) -> str:
    """The party called ``name`` (any case; "unknown" for the unlisted) or a UsageError naming them."""
    names = party_names(config)
    for candidate in names + [UNKNOWN]:
        if name.casefold() in (candidate.casefold(), candidate.strip("()").casefold()):
            return candidate
    listed = ", ".join(names) if names else "none are listed in case.toml"
    raise UsageError(f"there is no party called '{name}'.", where="--party",
                     hint=f"The parties are: {listed}; use '{UNKNOWN}' for identifiers not linked to any.")


def analyse(case: Case, party: str | None = None,
            on_party: Callable[[CaseAnalysis, PartyAnalysis], None] | None = None) -> CaseAnalysis:
    """Every figure for every party (or for ``party`` only).

    ``on_party(analysis, party)`` is called as each party's figures are done (the charts start on
    them while the next party is analysed); ``analysis.parties`` then holds the parties done so far.
    """
    config = case.config
    zone = ZoneInfo(config.timezone)
    names = party_names(config)
    wanted = resolve_party(config, party) if party is not None else None
    # one read of every column the figures use (the reader decodes them in parallel)
    table = read_master(case, FRAME_COLUMNS + ["sender", "recipients", "body", "subject"])
    phrases, source = phrase_list(config)
    with ThreadPoolExecutor(max_workers=1) as pool:      # the phrase search (Arrow, without the GIL) runs
        scan = pool.submit(_scan_texts, table, phrases)   # beside the rest of the shared work
        frame = load_frame(case, names, table)
        ctx = _prepare(case, frame, table, zone, wanted, names, phrases, source, scan)
    return _parties(ctx, config, zone, on_party)


def _prepare(case: Case, frame: Frame, table: pa.Table, zone: ZoneInfo, wanted: str | None, names: list[str],
             phrases: list[Phrase], source: str, scan: Future) -> _Context:
    config = case.config
    if wanted is not None:
        targets = [wanted]
    else:
        targets = list(names) + [g for g in frame.groups if g not in names and g != UNKNOWN]
        # the unlisted group only when it holds something to count (not only system lines)
        lo, hi = frame.bounds.get(frame.groups.index(UNKNOWN), (0, 0))
        if (frame.contact[lo:hi] | frame.incident[lo:hi] | (frame.unsent[lo:hi] >= 0)).any() \
                or frame.undated.get(UNKNOWN):
            targets.append(UNKNOWN)
    events = [CaseEvent(i, e.when_utc.astimezone(zone), e.kind, e.note, e.line) for i, e in enumerate(config.events)]

    return _Context(case, frame, table, zone, targets, events, phrases, source, scan)


def _parties(ctx: _Context, config: CaseConfig, zone: ZoneInfo,
             on_party: Callable[[CaseAnalysis, PartyAnalysis], None] | None) -> CaseAnalysis:
    frame, targets, events = ctx.frame, ctx.targets, ctx.events
    span = frame.span
    result = CaseAnalysis(
        title=config.title, timezone=config.timezone, owner=config.owner_name, master_rows=frame.rows,
        first_record=_local(span[0], zone) if span else None, last_record=_local(span[1], zone) if span else None,
        events=events, parties=[], red_flag_source=ctx.phrase_source,
        red_flag_phrases=[p.text for p in ctx.phrases], definitions=dict(DEFINITIONS))
    slugs = case_slugs(config, targets)
    for name in targets:
        result.parties.append(ctx.party(name, slugs[name]))
        if on_party is not None:
            on_party(result, result.parties[-1])
    return result


def sentences(analysis: CaseAnalysis, party: str | None = None) -> list[str]:
    """Plain-English factual sentences from the figures (see outputs/sentences.py)."""
    from commtrail.outputs.sentences import sentences as _sentences
    return _sentences(analysis, party)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


_local = local_datetime


def _locals(us: np.ndarray, zone: ZoneInfo) -> list[datetime]:
    """Many UTC microsecond times -> case-local datetimes."""
    return [local_datetime(u, zone) for u in np.asarray(us, dtype=np.int64).tolist()]


def _day_date(day: int) -> date:
    return date(1970, 1, 1) + timedelta(days=int(day))


def _us(dt: datetime) -> int:
    delta = dt.astimezone(UTC) - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def shift_days(when: datetime, days: int, zone: ZoneInfo) -> datetime:
    """``when`` moved by whole calendar days at the same local clock time (DST-correct)."""
    local = when.astimezone(zone)
    moved = (local.replace(tzinfo=None) + timedelta(days=days)).replace(tzinfo=zone)
    return moved.astimezone(zone)


# ----------------------------------------------------------------------------------------------
# The computation


class _Context:
    """The frame plus what all parties share: identifiers per row, red-flag hits."""

    def __init__(self, case: Case, frame: Frame, table: pa.Table, zone: ZoneInfo, targets: list[str],
                 events: list[CaseEvent], phrases: list[Phrase], source: str, scan: Future):
        self.case, self.frame, self.zone, self.events, self.targets = case, frame, zone, events, targets
        self.config = case.config
        f = frame
        self.system_code = f.code(f.kinds, "system")
        self.incident, self.contact = f.incident, f.contact
        self.call_code = f.code(f.channels, "call")
        self.dir_code = {d: f.code(f.directions, d) for d in DIRECTIONS}
        # the frame positions the analysis looks at
        slices = [f.group_slice(t) for t in targets]
        self.positions = np.concatenate([np.arange(s.start, s.stop) for s in slices]) if slices else \
            np.zeros(0, np.int64)
        self.call_label, self.call_labels = self._call_labels()
        self._identities(table)
        self.phrases, self.phrase_source = phrases, source
        self._red_flags(scan.result())

    # -- per-row helpers -----------------------------------------------------------------------

    def _call_labels(self) -> tuple[np.ndarray, list[str]]:
        f = self.frame
        labels = list(CALL_ORDER)
        by_kind = np.array([labels.index(CALL_LABELS.get(k, "other")) for k in f.kinds] or [0], dtype=np.int8)
        label = by_kind[f.kind] if len(f.kind) else np.zeros(0, np.int8)
        other = labels.index("other")
        answered_by_duration = (label == other) & (f.direction == self.dir_code["incoming"]) & \
            (np.nan_to_num(f.duration, nan=0.0) > 0)
        label = np.where(answered_by_duration, labels.index("answered"), label).astype(np.int8)
        return label, labels

    def _identities(self, table: pa.Table) -> None:
        """Which identifier each contact row attributes to its party (sender of incoming, recipients
        of outgoing), as (position, identifier code) pairs, and one identifier per row. Worked out
        over the master's own row order (no copy of the columns), then mapped to frame positions."""
        f = self.frame
        pos = self.positions[self.contact[self.positions]]
        self.ident_names: list[str] = []
        self.ident_pairs = (np.zeros(0, np.int64), np.zeros(0, np.int64))
        self.row_ident = np.full(len(f.ts), -1, dtype=np.int64)
        self.ident_kind = np.array(["other"], dtype=object)
        if not len(pos):
            return
        at = np.full(f.rows, -1, dtype=np.int64)          # master row -> frame position
        at[f.row] = np.arange(len(f.row))
        wanted = np.zeros(f.rows, dtype=bool)             # contact rows of the parties analysed
        wanted[f.row[pos]] = True
        direction = np.full(f.rows, -1, dtype=np.int32)
        direction[f.row] = f.direction
        group = np.full(f.rows, -1, dtype=np.int32)
        group[f.row] = f.group
        owner = pa.array(sorted(self.config.owner_ids()), pa.string())
        links = self.config.links
        linked_ids = pa.array(sorted(links), pa.string())
        linked_party = [links[k].party for k in sorted(links)]

        def mask(array) -> np.ndarray:
            return np.asarray(array.to_numpy(zero_copy_only=False), dtype=bool)

        # senders of incoming (and unknown-direction) rows
        sender = table["sender"]
        use_sender = wanted & (direction != self.dir_code["outgoing"]) & mask(sender.is_valid()) \
            & ~mask(pc.is_in(sender, owner).fill_null(False))
        s_pos = at[np.flatnonzero(use_sender)]
        s_id = sender.filter(pa.array(use_sender))
        # recipients of outgoing (and unknown-direction) rows, the owner left out
        recipients = table["recipients"]
        flat = pc.list_flatten(recipients)
        parent = np.asarray(pc.list_parent_indices(recipients).to_numpy(zero_copy_only=False), dtype=np.int64)
        keep = wanted[parent] & mask(flat.is_valid()) & ~mask(pc.is_in(flat, owner).fill_null(False)) \
            & (direction[parent] != self.dir_code["incoming"])
        flat, parent = flat.filter(pa.array(keep)), parent[keep]
        # a recipient belongs to the row's party when linked to it, or when it is the only one;
        # the unlisted group takes recipients linked to nobody
        link_index = np.asarray(pc.index_in(flat, linked_ids).fill_null(-1).to_numpy(zero_copy_only=False))
        link_group = np.array([f.groups.index(p) if p in f.groups else -3 for p in linked_party] + [-4])[link_index]
        row_group = group[parent]
        others = np.bincount(parent, minlength=f.rows)[parent]
        keep = np.where(row_group == f.groups.index(UNKNOWN), link_index < 0,
                        (link_group == row_group) | ((link_index < 0) & (others == 1)))
        r_pos = at[parent[keep]]
        r_id = flat.filter(pa.array(keep))
        ids = pa.chunked_array(list(s_id.chunks) + list(r_id.chunks), pa.string())
        encoded = pc.dictionary_encode(ids).combine_chunks()
        codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        self.ident_names = encoded.dictionary.to_pylist()
        pair_pos = np.concatenate([s_pos, r_pos])
        order = np.argsort(pair_pos, kind="stable")    # in a row: the sender, then the recipients in order
        pair_pos, codes = pair_pos[order], codes[order]
        self.ident_pairs = (pair_pos, codes)
        first = np.r_[True, pair_pos[1:] != pair_pos[:-1]] if len(pair_pos) else np.zeros(0, bool)
        self.row_ident[pair_pos[first]] = codes[first]
        self.ident_kind = np.array([kind_of(v) for v in self.ident_names] or ["other"], dtype=object)

    def _red_flags(self, found: dict[str, list[tuple[Any, str]]]) -> None:
        """Texts of the analysed contact rows that contain a phrase: position -> [(field, hit)]."""
        self.hits: dict[int, list[tuple[str, Any]]] = {}
        self.texts: dict[tuple[int, str], str] = {}
        f = self.frame
        pos = self.positions[self.contact[self.positions]]
        if not len(pos) or not found:
            return
        where = np.full(f.rows, -1, dtype=np.int64)
        where[f.row[pos]] = pos
        for name, hits in found.items():
            for hit, text in hits:
                p = int(where[hit.index])
                if p >= 0:
                    self.hits.setdefault(p, []).append((name, hit))
                    self.texts[(p, name)] = text

    # -- one party ---------------------------------------------------------------------------

    def party(self, name: str, slug_: str) -> PartyAnalysis:
        f = self.frame
        s = f.group_slice(name)
        pos = np.arange(s.start, s.stop)
        contact = pos[self.contact[pos]]
        incidents = pos[self.incident[pos]]
        system = int((f.kind[pos] == self.system_code).sum())
        unsent_codes = f.unsent[pos]
        unsent = {flag: int((unsent_codes == i).sum()) for i, flag in enumerate(NOT_SENT)}
        by_dir = {d: int((f.direction[contact] == self.dir_code[d]).sum()) for d in DIRECTIONS}
        by_channel: dict[str, dict[str, int]] = {}
        if len(contact):
            keys, counts = np.unique(f.channel[contact].astype(np.int64) * 8 + f.direction[contact], return_counts=True)
            for k, c in zip(keys.tolist(), counts.tolist()):
                by_channel.setdefault(f.channels[k // 8], {})[f.directions[k % 8]] = c
        by_channel = {c: dict(sorted(v.items())) for c, v in sorted(by_channel.items())}
        dirs = {d: contact[f.direction[contact] == self.dir_code[d]] for d in DIRECTIONS}
        return PartyAnalysis(
            name=name, slug=slug_, listed=name in party_names(self.config),
            contacts=len(contact), by_direction=by_dir, by_channel=by_channel,
            daily=self._counts(contact, f.day[contact]),
            weekly=self._counts(contact, f.day[contact] - f.weekday[contact]),
            incoming=self._direction("incoming", dirs["incoming"]),
            outgoing=self._direction("outgoing", dirs["outgoing"]),
            events=[self._event(e, dirs) for e in self.events],
            unanswered=self._unanswered(name, dirs["incoming"], dirs["outgoing"]),
            calls=self._calls(contact),
            identifiers=self._identifiers(contact),
            red_flags=self._party_red_flags(contact),
            incidents=len(incidents), incident_exhibits=f.exhibits(incidents), system_lines=system,
            unsent={k: n for k, n in unsent.items() if n}, unsent_exhibits=f.exhibits(pos[unsent_codes >= 0]),
            undated=f.undated.get(name, 0))

    def _counts(self, pos: np.ndarray, period: np.ndarray) -> list[CountRow]:
        f = self.frame
        if not len(pos):
            return []
        # group on the names' sort ranks, so that rows come out ordered by (period, channel, direction) names
        channels, directions = sorted(f.channels), sorted(f.directions)
        c_rank = np.array([channels.index(c) for c in f.channels], dtype=np.int64)
        d_rank = np.array([directions.index(d) for d in f.directions], dtype=np.int64)
        key = (np.asarray(period, dtype=np.int64) * len(channels) + c_rank[f.channel[pos]]) * len(directions) \
            + d_rank[f.direction[pos]]
        keys, counts = _count_values(key)
        days = (keys // (len(channels) * len(directions))).astype("datetime64[D]").tolist()
        cs = ((keys // len(directions)) % len(channels)).tolist()
        ds = (keys % len(directions)).tolist()
        return [CountRow(day, channels[c], directions[d], n) for day, c, d, n in zip(days, cs, ds, counts.tolist())]

    def _moment(self, p: int) -> Moment:
        f = self.frame
        return Moment(_local(int(f.ts[p]), self.zone), f.exhibit[int(f.row[p])].as_py())

    def _channel_counts(self, pos: np.ndarray) -> dict[str, int]:
        f = self.frame
        if not len(pos):
            return {}
        counts = np.bincount(f.channel[pos], minlength=len(f.channels))
        return {f.channels[i]: int(c) for i, c in sorted(enumerate(counts), key=lambda x: f.channels[x[0]]) if c}

    def _direction(self, direction: str, pos: np.ndarray) -> DirectionFigures:
        f = self.frame
        ts = f.ts[pos]
        days = _count_values(f.day[pos])[0]
        run = None
        if len(days):
            breaks = np.flatnonzero(np.diff(days) != 1)
            starts = np.r_[0, breaks + 1]
            ends = np.r_[breaks, len(days) - 1]
            lengths = ends - starts + 1
            best = int(np.argmax(lengths))
            run = Run(int(lengths[best]), _day_date(days[starts[best]]), _day_date(days[ends[best]]))
        persistence = Persistence(len(days), run, self._moment(pos[0]) if len(pos) else None,
                                  self._moment(pos[-1]) if len(pos) else None)
        hour = f.hour[pos]
        at_night = (hour >= NIGHT_FROM) | (hour < NIGHT_TO)
        night = Night(int(at_night.sum()), len(pos), float(at_night.mean()) if len(pos) else None,
                      NIGHT_FROM, NIGHT_TO, f.exhibits(pos[at_night]))
        grid = np.bincount(f.weekday[pos].astype(np.int64) * 24 + hour, minlength=168).reshape(7, 24)
        busiest_hour = busiest_day = None
        if len(pos):
            end = np.searchsorted(ts, ts + BURST_MINUTES * 60_000_000, side="left")
            counts = end - np.arange(len(ts))
            i = int(np.argmax(counts))
            inside = pos[i:end[i]]
            busiest_hour = Burst(int(counts[i]), f"rolling {BURST_MINUTES}-minute window",
                                 _local(int(ts[i]), self.zone), _local(int(ts[end[i] - 1]), self.zone),
                                 self._channel_counts(inside), f.exhibits(inside))
            day = f.day[pos]
            per_day = np.bincount(day - day[0])
            best = int(np.argmax(per_day)) + int(day[0])
            inside = pos[day == best]
            busiest_day = Burst(int(per_day.max()), "calendar day", _midnight(best, self.zone),
                                _local(int(f.ts[inside[-1]]), self.zone), self._channel_counts(inside),
                                f.exhibits(inside))
        return DirectionFigures(direction, len(pos), self._channel_counts(pos), persistence, night,
                                grid.tolist(), busiest_hour, busiest_day, self._repeated_calls(pos))

    def _repeated_calls(self, pos: np.ndarray) -> RepeatedCalls:
        f = self.frame
        calls = pos[f.channel[pos] == self.call_code]
        series: list[CallSeries] = []
        if len(calls) > 1:
            ts = f.ts[calls]
            close = np.diff(ts) <= REPEAT_CALL_MINUTES * 60_000_000
            starts = np.flatnonzero(np.r_[True, ~close])
            ends = np.r_[starts[1:], len(calls)]
            keep = (ends - starts) > 1
            starts, ends = starts[keep], ends[keep]
            if len(starts):
                # calls of each kind per series: one-hot labels summed over each series
                onehot = np.zeros((len(calls) + 1, len(self.call_labels)), np.int64)
                onehot[np.arange(1, len(calls) + 1), self.call_label[calls]] = 1
                running = np.cumsum(onehot, axis=0)
                kinds = running[ends] - running[starts]
                first, last = _locals(ts[starts], self.zone), _locals(ts[ends - 1], self.zone)
                names = self.call_labels
                # each series' counts by kind as a dict, built from the non-zero cells only
                by_series: list[dict[str, int]] = [{} for _ in range(len(starts))]
                rows, cols = np.nonzero(kinds)
                for r, c, n in zip(rows.tolist(), cols.tolist(), kinds[rows, cols].tolist()):
                    by_series[r][names[c]] = n
                rows_of = f.row[calls]
                exhibit = f.exhibit
                for a, b, t0, t1, k in zip(starts.tolist(), ends.tolist(), first, last, by_series):
                    series.append(CallSeries(b - a, t0, t1, k, Exhibits(exhibit, rows_of[a:b])))
        longest = max(series, key=lambda s: s.calls) if series else None   # the first of the longest
        return RepeatedCalls(REPEAT_CALL_MINUTES, len(calls), series, sum(s.calls - 1 for s in series), longest)

    def _window(self, label: str, start: datetime, end: datetime, dirs: dict[str, np.ndarray],
                inclusive: bool = False) -> Window:
        f = self.frame
        a, b = _us(start), _us(end) + (1 if inclusive else 0)
        counts, per_week = {}, {}
        span = f.span
        covered = max(0, min(b, span[1] + 1) - max(a, span[0])) / US_PER_DAY if span else 0.0
        incoming_slice = np.zeros(0, np.int64)
        for d in DIRECTIONS:
            pos = dirs[d]
            lo, hi = np.searchsorted(f.ts[pos], [a, b], side="left")
            counts[d] = int(hi - lo)
            per_week[d] = round(counts[d] / covered * 7, 2) if covered >= 1 else None
            if d == "incoming":
                incoming_slice = pos[lo:hi]
        ids = self.row_ident[incoming_slice]
        ids = np.unique(ids[ids >= 0])
        by_kind: dict[str, int] = {}
        for k in (self.ident_kind[ids] if len(ids) else []):
            by_kind[k] = by_kind.get(k, 0) + 1
        by_channel = self._channel_counts(incoming_slice)
        return Window(label, start, end, round((b - a) / US_PER_DAY, 4), round(covered, 4), counts,
                      by_channel, per_week, len(by_channel), dict(sorted(by_kind.items())))

    def _event(self, event: CaseEvent, dirs: dict[str, np.ndarray]) -> EventFigures:
        f = self.frame
        when = event.when
        before = self._window(f"{WINDOW_DAYS} days before", shift_days(when, -WINDOW_DAYS, self.zone), when, dirs)
        after = self._window(f"{WINDOW_DAYS} days after", when, shift_days(when, WINDOW_DAYS, self.zone), dirs)
        if f.span and f.span[1] >= _us(when):
            total = self._window("after", when, _local(f.span[1], self.zone), dirs, inclusive=True)
        else:
            total = self._window("after", when, when, dirs)
        incoming = dirs["incoming"]
        i = int(np.searchsorted(f.ts[incoming], _us(when), side="left"))
        nxt = self._moment(incoming[i]) if i < len(incoming) else None
        seconds = (int(f.ts[incoming[i]]) - _us(when)) / 1_000_000 if nxt else None
        return EventFigures(event, before, after, total, nxt, seconds)

    def _unanswered(self, name: str, incoming: np.ndarray, outgoing: np.ndarray) -> Unanswered:
        f = self.frame
        considered = incoming[self.call_label[incoming] != self.call_labels.index("answered")] \
            if len(incoming) else incoming
        if not len(considered):
            return Unanswered(REPLY_HOURS, 0, 0, {}, no_exhibits())
        # a reply is to the same party; among the unlisted, to the same identifier
        same = name == UNKNOWN
        sent = f.ts[considered]
        reply = _next_after(sent, self.row_ident[considered] if same else None,
                            f.ts[outgoing], self.row_ident[outgoing] if same else None)
        window = REPLY_HOURS * 3_600_000_000
        late = np.isnan(reply) | (reply - sent > window)
        # no reply yet, but the records end before the window does: whether one came is not known
        unknown = late & (sent + window > f.span[1])
        missing = np.sort(considered[late & ~unknown])
        return Unanswered(REPLY_HOURS, len(considered) - int(unknown.sum()), len(missing),
                          self._channel_counts(missing), f.exhibits(missing), int(unknown.sum()))

    def _calls(self, contact: np.ndarray) -> CallKinds:
        f = self.frame
        calls = contact[f.channel[contact] == self.call_code]
        labels = self.call_labels
        if not len(calls):
            return CallKinds({}, [])
        label = self.call_label[calls]
        totals = np.bincount(label, minlength=len(labels))
        week = (f.day[calls] - f.weekday[calls]).astype(np.int64)
        keys, counts = np.unique(week * 16 + label, return_counts=True)
        weeks: dict[int, dict[str, int]] = {}
        for k, n in zip(keys.tolist(), counts.tolist()):
            weeks.setdefault(k // 16, {})[labels[k % 16]] = n
        return CallKinds({labels[i]: int(n) for i, n in enumerate(totals) if n},
                         [WeekCount(_day_date(w), {l: c[l] for l in labels if l in c}) for w, c in sorted(weeks.items())])

    def _identifiers(self, contact: np.ndarray) -> list[Identifier]:
        f = self.frame
        pair_pos, codes = self.ident_pairs
        if not len(contact) or not len(pair_pos):
            return []
        lo, hi = np.searchsorted(pair_pos, [contact[0], contact[-1] + 1])
        mask = self.contact[pair_pos[lo:hi]]
        p, c = pair_pos[lo:hi][mask], codes[lo:hi][mask]
        if not len(p):
            return []
        groups = _Groups(c, f.ts[p])
        inc = groups.sums(f.direction[p] == self.dir_code["incoming"])
        out_n = groups.sums(f.direction[p] == self.dir_code["outgoing"])
        days_of = groups.distinct(f.day[p])
        chans_of = [sorted(f.channels[x] for x in v) for v in groups.distinct(f.channel[p])]
        # an identifier first used after an event (when the records begin before the event)
        start = f.span[0] if f.span else 0
        event_times = [_us(e.when) for e in self.events]
        events = [(e, t) for e, t in zip(self.events, event_times) if t > start]
        out = []
        for g, code in enumerate(groups.keys.tolist()):
            ident = self.ident_names[code]
            first_pos, last_pos = int(p[groups.first[g]]), int(p[groups.last[g]])
            link = self.config.links.get(ident)
            first_ts = int(f.ts[first_pos])
            before = [e for e, t in events if t <= first_ts]
            after = None
            if before:
                e = before[-1]
                after = {"event": e.index, "kind": e.kind, "when": e.when.isoformat(),
                         "days": round((first_ts - _us(e.when)) / US_PER_DAY, 2),
                         "seconds": (first_ts - _us(e.when)) / 1_000_000}
            out.append(Identifier(
                identifier=ident, display=describe(ident), kind=kind_of(ident), count=int(groups.counts[g]),
                incoming=int(inc[g]), outgoing=int(out_n[g]), channels=chans_of[g],
                first=self._moment(first_pos), last=self._moment(last_pos),
                days_used=days_of[g].astype("datetime64[D]").tolist(),
                link={"party": link.party, "key": link.key, "raw": link.raw, "line": link.line} if link else None,
                first_after=after, check=phone_check(ident)))
        out.sort(key=lambda i: (i.first.local, i.identifier))
        return out

    def _party_red_flags(self, contact: np.ndarray) -> RedFlags:
        f = self.frame
        hits: list[RedFlagHit] = []
        by_phrase: dict[str, int] = {}
        by_direction: dict[str, int] = {}
        if self.hits and len(contact):
            lo, hi = contact[0], contact[-1]
            found = [(p, name, hit) for p in sorted(k for k in self.hits if lo <= k <= hi) for name, hit in self.hits[p]]
            where = np.array([p for p, _, _ in found], dtype=np.int64)
            exhibits = f.exhibits(where).to_list()
            times = _locals(f.ts[where], self.zone)
            for (p, name, hit), exhibit, when in zip(found, exhibits, times):
                phrases = [ph.text for ph in hit.phrases]
                direction = f.directions[f.direction[p]]
                hits.append(RedFlagHit(exhibit, when, direction, f.channels[f.channel[p]], name, phrases,
                                       sorted({ph.group for ph in hit.phrases}), self.texts[(p, name)]))
                by_direction[direction] = by_direction.get(direction, 0) + 1
                for text in phrases:
                    by_phrase[text] = by_phrase.get(text, 0) + 1
        order = {ph.text: i for i, ph in enumerate(self.phrases)}
        return RedFlags(self.phrase_source, hits,
                        dict(sorted(by_phrase.items(), key=lambda kv: order.get(kv[0], 0))), by_direction)


def _count_values(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values (ascending) and how often each occurs: a bincount over a small range
    (days, day x channel x direction) instead of a sort."""
    values = np.asarray(values, dtype=np.int64)
    if not len(values):
        return values, values
    low = int(values.min())
    if int(values.max()) - low > 50_000_000:      # a huge range: sort instead
        return np.unique(values, return_counts=True)
    counts = np.bincount(values - low)
    present = np.flatnonzero(counts)
    return present + low, counts[present]


def _next_after(ts: np.ndarray, key: np.ndarray | None, later: np.ndarray, later_key: np.ndarray | None) -> np.ndarray:
    """For each time of ``ts``: the first time of ``later`` strictly after it (with the same key,
    when keys are given), as float64; NaN where there is none."""
    out = np.full(len(ts), np.nan)
    if not len(ts) or not len(later):
        return out
    if key is None:
        order = np.sort(later)
        at = np.searchsorted(order, ts, side="right")
        found = at < len(order)
        out[found] = order[at[found]]
        return out
    # one sorted line of (key, time rank): the next entry of the same key is the reply
    _, rank = np.unique(np.concatenate([ts, later]), return_inverse=True)
    keys, key_index = np.unique(np.concatenate([key, later_key]), return_inverse=True)
    width = len(rank) + 1
    combined = key_index.astype(np.int64) * width + rank
    left, right = combined[:len(ts)], combined[len(ts):]
    order = np.argsort(right, kind="stable")
    right = right[order]
    at = np.searchsorted(right, left, side="right")
    found = at < len(right)
    found[found] = right[at[found]] // width == left[found] // width
    out[found] = later[order[at[found]]]
    return out


class _Groups:
    """Rows grouped by an integer code (codes ascending): size, first row of the earliest and of
    the latest time (the first such row on ties), per-group sums and distinct values."""

    def __init__(self, codes: np.ndarray, ts: np.ndarray) -> None:
        self.keys, self.index, self.counts = np.unique(codes, return_inverse=True, return_counts=True)
        self.index = self.index.ravel()
        rows = np.arange(len(codes))
        starts = np.concatenate(([0], np.cumsum(self.counts)[:-1]))
        self.first = np.lexsort((rows, ts, self.index))[starts]
        self.last = np.lexsort((rows, -ts, self.index))[starts]

    def sums(self, values: np.ndarray) -> np.ndarray:
        return np.bincount(self.index, weights=values, minlength=len(self.keys)).astype(np.int64)

    def distinct(self, values: np.ndarray) -> list[np.ndarray]:
        """Each group's distinct values, ascending."""
        values = np.asarray(values)
        order = np.lexsort((values, self.index))
        g, v = self.index[order], values[order]
        keep = np.r_[True, (g[1:] != g[:-1]) | (v[1:] != v[:-1])]
        g, v = g[keep], v[keep]
        return np.split(v, np.searchsorted(g, np.arange(1, len(self.keys))))


def _scan_texts(table: pa.Table, phrases: list[Phrase]) -> dict[str, list[tuple[Any, str]]]:
    """Every body and subject of the master that holds a phrase: field -> [(hit, text)]."""
    out: dict[str, list[tuple[Any, str]]] = {}
    if not phrases or not table.num_rows:
        return out
    for name in ("body", "subject"):
        column = table[name]
        hits = find_hits(column, phrases)
        texts = column.take(pa.array([h.index for h in hits], pa.int64())).to_pylist() if hits else []
        out[name] = list(zip(hits, texts))
    return out


def _midnight(day: int, zone: ZoneInfo) -> datetime:
    d = _day_date(day)
    return datetime(d.year, d.month, d.day, tzinfo=zone)


__all__ = ["analyse", "sentences", "WEEKDAYS", "CALL_ORDER", "resolve_party", "slug", "case_slugs", "CaseAnalysis",
           "PartyAnalysis", "UNKNOWN", "Exhibits", "shift_days"]
