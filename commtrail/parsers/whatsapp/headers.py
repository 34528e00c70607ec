"""WhatsApp export headers: the wording (from data/whatsapp_markers.toml), the shape of a header
line, detection of the shape from a sample of lines, and the regular expressions built from it.

Two regex dialects are used on purpose:
- Python ``re`` (``GENERIC``) on a few thousand sample lines, to find which shape a file uses and
  for ``sniff``;
- RE2 (through ``pyarrow.compute``) for the vectorised pass over every line, with a pattern built
  for the one shape found (literal separators, the day-period words of the data file).
"""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

DATA_FILE = "whatsapp_markers.toml"


@dataclass(frozen=True)
class Wording:
    marks: tuple[str, ...]
    spaces: tuple[str, ...]
    digit_sets: tuple[str, ...]     # "0123456789" first, then other scripts' digits in order 0-9
    commas: tuple[str, ...]
    datetime_words: tuple[str, ...]
    am: tuple[str, ...]
    pm: tuple[str, ...]
    title_prefixes: tuple[str, ...]
    group_events: tuple[str, ...]
    media_omitted: tuple[str, ...]
    attached_ios: tuple[str, ...]
    attached_ios_suffix: tuple[str, ...]
    attached_android: tuple[str, ...]
    deleted: tuple[str, ...]
    edited: tuple[str, ...]
    notices: tuple[str, ...]
    events: tuple[str, ...]
    contact_notices: tuple[str, ...]

    @property
    def all_digits(self) -> str:
        return "".join(self.digit_sets)

    def digit_set_of(self, ch: str) -> int:
        """Index of the digit set holding ``ch`` (0, ASCII, when none does)."""
        for i, digits in enumerate(self.digit_sets):
            if ch in digits:
                return i
        return 0

    def period_key(self, word: str) -> str:
        """A day-period word reduced for lookup: no spaces of any kind, lower case."""
        return "".join(ch for ch in word if ch not in self.spaces).lower()

    @property
    def period_table(self) -> dict[str, bool]:
        """Reduced day-period word -> True for PM, False for AM."""
        table = {self.period_key(w): False for w in self.am}
        table.update({self.period_key(w): True for w in self.pm})
        return table


@lru_cache(maxsize=1)
def wording() -> Wording:
    """The wording of WhatsApp exports, from the data file."""
    with resources.files("commtrail").joinpath("data", DATA_FILE).open("rb") as handle:
        data = tomllib.load(handle)
    header, period, markers, system = data["header"], data["day_period"], data["markers"], data["system"]
    return Wording(
        marks=tuple(header["invisible_marks"]),
        spaces=tuple(header["spaces"]),
        digit_sets=tuple(header["digits"]),
        commas=tuple(header["commas"]),
        datetime_words=tuple(header["datetime_words"]),
        am=tuple(period["am"]),
        pm=tuple(period["pm"]),
        title_prefixes=tuple(data["conversation"]["title_prefixes"]),
        group_events=tuple(data["conversation"]["group_events"]),
        media_omitted=tuple(markers["media_omitted"]),
        attached_ios=tuple(markers["attached_ios"]),
        attached_ios_suffix=tuple(markers["attached_ios_suffix"]),
        attached_android=tuple(markers["attached_android"]),
        deleted=tuple(markers["deleted"]),
        edited=tuple(markers["edited"]),
        notices=tuple(system["notices"]),
        events=tuple(system["events"]),
        contact_notices=tuple(system["contact_notices"]),
    )


# --- escaping for both dialects ----------------------------------------------------------------

_SPECIAL = set(r".^$*+?()[]{}|\-/:<>")


def esc(text: str) -> str:
    """Escape literal text for Python re and RE2 alike (only ASCII punctuation is escaped)."""
    return "".join("\\" + ch if ch in _SPECIAL else ch for ch in text)


def re2_class(chars) -> str:
    """An RE2 character class of the given characters, written as \\x{...} escapes."""
    return "[" + "".join(f"\\x{{{ord(c):x}}}" for c in chars) + "]"


def py_class(chars) -> str:
    return "[" + "".join(f"\\u{ord(c):04x}" if ord(c) > 0x7F or c == " " else esc(c) for c in chars) + "]"


def words_alternation(words, space_pattern: str) -> str:
    """Literal words, longest first; a space inside a word matches ``space_pattern`` or nothing."""
    parts = []
    for word in sorted(set(words), key=len, reverse=True):
        parts.append("".join(space_pattern + "?" if ch == " " else esc(ch) for ch in word))
    return "(?:" + "|".join(parts) + ")"


# --- the generic header (Python re) ------------------------------------------------------------

@lru_cache(maxsize=1)
def generic_regex() -> re.Pattern[str]:
    """Any header shape commtrail knows, with named groups for the parts that vary.

    Digits of any set in the data file; invisible marks (RLM...) may stand around the date's
    separators and the time, as right-to-left locales write them. A run of marks is taken whole
    (possessive ``*+``: what follows one is never a mark), so that a line of thousands of marks is
    refused in one pass, not by trying every way to split the run between two of them (seconds)."""
    w = wording()
    mk = py_class(w.marks) + "*+"
    sp = py_class(w.spaces)
    d = py_class(w.all_digits)
    comma = py_class(w.commas)
    period = "(?i:" + words_alternation(w.am + w.pm, sp) + ")"
    joinwords = words_alternation(w.datetime_words, sp)
    pattern = (
        rf"^{mk}(?P<br>\[)?{mk}"
        rf"(?P<d1>{d}{{1,4}}){mk}(?P<ds>[./-]){mk}(?P<dsp> )?{mk}(?P<d2>{d}{{1,2}}){mk}(?P=ds){mk}(?(dsp) ){mk}"
        rf"(?P<d3>{d}{{1,4}})(?P<dd>\.)?{mk}"
        rf"(?P<join>{comma}{sp}?|{sp}{joinwords}{sp}|{sp}|{comma}){mk}"
        rf"(?:(?P<pb>{period}){sp}?{mk})?"
        rf"(?P<H>{d}{{1,2}})(?P<ts>[:.])(?P<M>{d}{{2}})(?:(?P=ts)(?P<S>{d}{{2}}))?"
        rf"(?:{mk}{sp}?{mk}(?P<pa>{period}))?{mk}"
        rf"(?P<end>(?(br)\]{sp}?|(?:\.?{sp}+[-\u2013]{sp}|:{sp}|{sp})))"
        r"(?P<rest>.*)$"
    )
    return re.compile(pattern, re.ASCII | re.DOTALL)


@lru_cache(maxsize=1)
def generic_re2() -> str:
    """A loose RE2 pattern for "this line starts like a header of any shape"."""
    w = wording()
    mk = re2_class(w.marks) + "*"
    sp = re2_class(w.spaces)
    d = re2_class(w.all_digits)
    comma = re2_class(w.commas)
    period = "(?i:" + words_alternation(w.am + w.pm, sp) + ")"
    return (rf"^{mk}\[?{mk}{d}{{1,4}}{mk}[./-]{mk} ?{mk}{d}{{1,2}}{mk}[./-]{mk} ?{mk}{d}{{1,4}}\.?{mk}"
            rf"(?:{comma}?{sp}?|{sp}\S{{1,6}}{sp}){mk}(?:{period}{sp}?{mk})?{d}{{1,2}}[:.]{d}{{2}}")


# --- the shape of a header ---------------------------------------------------------------------

@dataclass(frozen=True)
class HeaderFormat:
    """The shape of the header lines of one export (separators as written in the file)."""

    bracket: bool          # iOS: "[date, time] Name: text"
    date_sep: str          # "/", "." or "-"
    date_sep_space: bool   # "13. 6. 2018."
    date_trailing_dot: bool
    years: str             # "first4", "last4" or "last2"
    join: str              # between date and time, as written: ", ", " ", " à ", " klo " ...
    period: str | None     # None (24-hour), "after" or "before" the time
    time_sep: str          # ":" or "."
    end: str               # after the time, as written: "] ", " - ", ": ", ". - ", " " ...
    digits: int = 0        # index of the digit set (0: ASCII; Arabic-Indic, Persian, Devanagari...)

    @property
    def end_kind(self) -> str:
        if self.bracket:
            return "bracket"
        if "-" in self.end or "\u2013" in self.end:
            return "dash"
        if self.end.startswith(":"):
            return "colon"
        return "space"

    def describe(self) -> str:
        """A readable template, e.g. ``[NN/NN/YYYY, HH:MM:SS] Name:``."""
        sep = self.date_sep + (" " if self.date_sep_space else "")
        if self.years == "first4":
            date = f"YYYY{sep}MM{sep}DD"
        else:
            date = f"NN{sep}NN{sep}" + ("YY" if self.years == "last2" else "YYYY")
        date += "." if self.date_trailing_dot else ""
        time = f"HH{self.time_sep}MM[{self.time_sep}SS]"
        if self.period == "after":
            time += " AM/PM"
        elif self.period == "before":
            time = "AM/PM " + time
        text = "".join(" " if ch in "\u00a0\u202f" else ch for ch in date + self.join + time + self.end)
        script = f" (digits {wording().digit_sets[self.digits][:3]}...)" if self.digits else ""
        return ("[" if self.bracket else "") + text + "Name:" + script

    def digit_re2(self) -> str:
        """RE2 for one digit of this shape's digit set."""
        return r"\d" if self.digits == 0 else re2_class(wording().digit_sets[self.digits])

    def _datetime_re2(self, with_period_group: bool) -> str:
        w = wording()
        sp = re2_class(w.spaces)
        mk = re2_class(w.marks) + "*"
        d = self.digit_re2()
        d_first = d + "{4}" if self.years == "first4" else d + "{1,2}"
        d_last = d + ("{1,2}" if self.years == "first4" else ("{4}" if self.years == "last4" else "{2}"))
        sep = mk + esc(self.date_sep) + mk + (" ?" + mk if self.date_sep_space else "")
        date = d_first + sep + d + "{1,2}" + sep + d_last + (r"\." if self.date_trailing_dot else "") + mk
        join = "".join(sp if ch in w.spaces else esc(ch) for ch in self.join) + mk
        ts = esc(self.time_sep)
        time = rf"{d}{{1,2}}{ts}{d}{{2}}(?:{ts}{d}{{2}})?"
        if self.period:
            period = "(?i:" + words_alternation(w.am + w.pm, sp) + ")"
            if with_period_group:
                period = f"(?P<period>{period})"
            time = (f"{period}{sp}?{mk}{time}" if self.period == "before"
                    else f"{time}{mk}{sp}?{mk}{period}")
        return date + join + time + mk

    def _prefix_re2(self) -> str:
        mk = re2_class(wording().marks) + "*"
        return mk + (rf"\[{mk}" if self.bracket else "")

    def re2_match_pattern(self) -> str:
        """RE2, anchored, no groups: does this line start with a header of this shape."""
        return "^" + self._prefix_re2() + self._datetime_re2(False) + esc(self.end)

    def re2_pre_pattern(self) -> str:
        """RE2 with one group ``pre`` (the whole header up to the name), for shapes whose end
        cannot be found as a literal (a single space)."""
        return "^(?P<pre>" + self._prefix_re2() + self._datetime_re2(False) + esc(self.end) + ")"

    def re2_period_patterns(self) -> tuple[str, str]:
        """RE2 patterns over the date/time text: (any day-period word, a PM word)."""
        w = wording()
        sp = re2_class(w.spaces)
        mk = re2_class(w.marks) + "*"
        d = self.digit_re2()
        anyp = "(?i:" + words_alternation(w.am + w.pm, sp) + ")"
        pm = "(?i:" + words_alternation(w.pm, sp) + ")"
        if self.period == "before":
            tail = f"{sp}?{mk}{d}{{1,2}}[:.]{d}{{2}}(?:[:.]{d}{{2}})?{mk}$"
            return anyp + tail, pm + tail
        head = f"{d}{mk}{sp}?{mk}"
        return head + anyp + mk + "$", head + pm + mk + "$"


def _signature(m: re.Match[str]) -> HeaderFormat | None:
    d1, d3 = m["d1"], m["d3"]
    if len(d1) == 4:
        years = "first4"
        if len(d3) > 2:
            return None
    elif len(d1) > 2:
        return None
    elif len(d3) == 4:
        years = "last4"
    elif len(d3) == 2:
        years = "last2"
    else:
        return None
    period = "before" if m["pb"] else ("after" if m["pa"] else None)
    return HeaderFormat(bracket=bool(m["br"]), date_sep=m["ds"], date_sep_space=bool(m["dsp"]),
                        date_trailing_dot=bool(m["dd"]), years=years, join=m["join"], period=period,
                        time_sep=m["ts"], end=m["end"], digits=wording().digit_set_of(d1[0]))


@dataclass
class Detection:
    fmt: HeaderFormat | None
    matched: int                  # sample lines that look like a header of some shape
    shapes: Counter               # HeaderFormat -> count
    others: list[HeaderFormat] = field(default_factory=list)   # more shapes read on their own


MIN_SHAPE_LINES = 2   # a shape seen on one line only is more likely text pasted into a message


def _shape_matches(lines) -> dict[HeaderFormat, list[re.Match[str]]]:
    rx = generic_regex()
    found: dict[HeaderFormat, list[re.Match[str]]] = {}
    for line in lines:
        m = rx.match(line)
        sig = _signature(m) if m else None
        if sig is not None:
            found.setdefault(sig, []).append(m)
    return found


def _by_count(found: dict) -> list:
    """Shapes, most common first; ties broken by a stable key (never by dict order)."""
    return sorted(found, key=lambda sig: (-len(found[sig]), repr(sig)))


def stands_alone(sig: HeaderFormat, matches: list[re.Match[str]]) -> bool:
    """Can lines of this shape be read as headers beside another shape?

    Only when nothing about them is left to guess: the shape ends with a literal (" - ", "] ",
    ": "; a bare space could be any sentence), at least MIN_SHAPE_LINES of its lines name an
    author, and its own lines settle the day/month order (the year first, or a day above 12 in
    one position and never in the other)."""
    if sig.end_kind == "space":
        return False
    authored = sum(1 for m in matches if ": " in m["rest"] or m["rest"].endswith(":"))
    if authored < MIN_SHAPE_LINES:
        return False
    if sig.years == "first4":
        return True
    over_a = any(int(m["d1"]) > 12 for m in matches)
    over_b = any(int(m["d2"]) > 12 for m in matches)
    return over_a != over_b


def detect(lines) -> Detection:
    """The most common header shape among ``lines`` (a sample of the file's lines), and the other
    shapes among them that stand alone (see :func:`stands_alone`)."""
    found = _shape_matches(lines)
    if not found:
        return Detection(None, 0, Counter())
    order = _by_count(found)
    best = order[0]
    others = [sig for sig in order[1:] if stands_alone(sig, found[sig])]
    shapes = Counter({sig: len(ms) for sig, ms in found.items()})
    return Detection(best, sum(shapes.values()), shapes, others)


def new_shapes(lines, known) -> list[HeaderFormat]:
    """Shapes of ``lines`` (header-like lines inside messages) not in ``known`` that stand alone."""
    found = _shape_matches(lines)
    return [sig for sig in _by_count(found) if sig not in known and stands_alone(sig, found[sig])]


def looks_like_export(text: str) -> bool:
    """Cheap content test used by sniff: header lines of a WhatsApp export near the top."""
    rx = generic_regex()
    lines = [line for line in text.split("\n")[:60] if line.strip(" \r\t\ufeff\u200e\u200f")]
    if not lines:
        return False
    lines = lines[:20]
    hits = [rx.match(line.rstrip("\r")) for line in lines]
    good = [m for m in hits if m and _signature(m) is not None]
    if not good:
        return False
    with_author = any(": " in m["rest"] or m["rest"].endswith(":") for m in good)
    first_is_header = hits[0] is not None and _signature(hits[0]) is not None
    if first_is_header and (with_author or len(good) >= 2):
        return True                 # (a first message may run over many lines)
    return with_author and len(good) >= 2 and len(good) * 3 >= len(lines)


def _alternatives(patterns) -> list[str]:
    inner = []
    for p in patterns:
        p = p[1:] if p.startswith("^") else p
        p = p[:-1] if p.endswith("$") else p
        inner.append(f"(?:{p})")
    return inner


@lru_cache(maxsize=1)
def events_python_regex() -> str:
    """Python ``re``: the whole text is a group event (invisible marks already stripped)."""
    return "^(?:" + "|".join(_alternatives(wording().events)) + ")$"


@lru_cache(maxsize=1)
def events_re2() -> str:
    """RE2: the text is invisible marks, then a group event (iOS lines with the chat name as author)."""
    return "^" + re2_class(wording().marks) + "+(?:" + "|".join(_alternatives(wording().events)) + ")$"


@lru_cache(maxsize=1)
def contact_notices_re2() -> str:
    """RE2: the text is invisible marks, then a notice iOS attributes to the contact."""
    w = wording()
    return "^" + re2_class(w.marks) + "+(?:" + "|".join(_alternatives(w.contact_notices)) + ")$"
