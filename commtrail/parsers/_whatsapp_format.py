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
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

DATA_FILE = "whatsapp_markers.toml"


@dataclass(frozen=True)
class Wording:
    marks: tuple[str, ...]
    spaces: tuple[str, ...]
    datetime_words: tuple[str, ...]
    am: tuple[str, ...]
    pm: tuple[str, ...]
    title_prefixes: tuple[str, ...]
    media_omitted: tuple[str, ...]
    attached_ios: tuple[str, ...]
    attached_ios_suffix: tuple[str, ...]
    attached_android: tuple[str, ...]
    deleted: tuple[str, ...]
    edited: tuple[str, ...]
    notices: tuple[str, ...]
    events: tuple[str, ...]

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
        datetime_words=tuple(header["datetime_words"]),
        am=tuple(period["am"]),
        pm=tuple(period["pm"]),
        title_prefixes=tuple(data["conversation"]["title_prefixes"]),
        media_omitted=tuple(markers["media_omitted"]),
        attached_ios=tuple(markers["attached_ios"]),
        attached_ios_suffix=tuple(markers["attached_ios_suffix"]),
        attached_android=tuple(markers["attached_android"]),
        deleted=tuple(markers["deleted"]),
        edited=tuple(markers["edited"]),
        notices=tuple(system["notices"]),
        events=tuple(system["events"]),
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
    """Any header shape commtrail knows, with named groups for the parts that vary."""
    w = wording()
    mk = py_class(w.marks) + "*"
    sp = py_class(w.spaces)
    period = "(?i:" + words_alternation(w.am + w.pm, sp) + ")"
    joinwords = words_alternation(w.datetime_words, sp)
    pattern = (
        rf"^{mk}(?P<br>\[)?{mk}"
        r"(?P<d1>[0-9]{1,4})(?P<ds>[./-])(?P<dsp> )?(?P<d2>[0-9]{1,2})(?P=ds)(?(dsp) )"
        r"(?P<d3>[0-9]{1,4})(?P<dd>\.)?"
        rf"(?P<join>,{sp}?|{sp}{joinwords}{sp}|{sp}|,)"
        rf"(?:(?P<pb>{period}){sp}?)?"
        r"(?P<H>[0-9]{1,2})(?P<ts>[:.])(?P<M>[0-9]{2})(?:(?P=ts)(?P<S>[0-9]{2}))?"
        rf"(?:{sp}?(?P<pa>{period}))?"
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
    period = "(?i:" + words_alternation(w.am + w.pm, sp) + ")"
    return (rf"^{mk}\[?{mk}\d{{1,4}}[./-] ?\d{{1,2}}[./-] ?\d{{1,4}}\.?(?:,?{sp}?|{sp}\S{{1,6}}{sp})"
            rf"(?:{period}{sp}?)?\d{{1,2}}[:.]\d{{2}}")


# --- the shape of a header ---------------------------------------------------------------------

@dataclass(frozen=True)
class HeaderFormat:
    """The shape of the header lines of one export."""

    bracket: bool          # iOS: "[date, time] Name: text"
    date_sep: str          # "/", "." or "-"
    date_sep_space: bool   # "13. 6. 2018."
    date_trailing_dot: bool
    years: str             # "first4", "last4" or "last2"
    join: str              # "comma", "space" or "word:<word>"
    period: str | None     # None (24-hour), "after" or "before" the time
    time_sep: str          # ":" or "."
    end: str               # "bracket", "dash", "colon" or "space"

    def describe(self) -> str:
        """A readable template, e.g. ``[DD/MM/YY, HH:MM:SS] Name:``."""
        sep = self.date_sep + (" " if self.date_sep_space else "")
        if self.years == "first4":
            date = f"YYYY{sep}MM{sep}DD"
        else:
            date = f"NN{sep}NN{sep}" + ("YY" if self.years == "last2" else "YYYY")
        date += "." if self.date_trailing_dot else ""
        join = {"comma": ", ", "space": " "}.get(self.join, " " + self.join[5:] + " ")
        time = f"HH{self.time_sep}MM[{self.time_sep}SS]"
        if self.period == "after":
            time += " AM/PM"
        elif self.period == "before":
            time = "AM/PM " + time
        body = date + join + time
        if self.bracket:
            return f"[{body}] Name: (iOS style)"
        end = {"dash": " - ", "colon": ": ", "space": " "}[self.end]
        return f"{body}{end}Name: (Android style)" if self.end == "dash" else f"{body}{end}Name:"

    def re2_pattern(self) -> str:
        """The RE2 pattern of one header line, anchored, with groups pre, dt, period, author, sep."""
        w = wording()
        mk = re2_class(w.marks) + "*"
        sp = re2_class(w.spaces)
        d_first = r"\d{4}" if self.years == "first4" else r"\d{1,2}"
        d_last = r"\d{1,2}" if self.years == "first4" else (r"\d{4}" if self.years == "last4" else r"\d{2}")
        sep = esc(self.date_sep) + (" ?" if self.date_sep_space else "")
        date = d_first + sep + r"\d{1,2}" + sep + d_last + (r"\." if self.date_trailing_dot else "")
        if self.join == "comma":
            join = f",{sp}?"
        elif self.join == "space":
            join = sp
        else:
            join = sp + words_alternation([self.join[5:]], sp) + sp
        ts = esc(self.time_sep)
        time = rf"\d{{1,2}}{ts}\d{{2}}(?:{ts}\d{{2}})?"
        if self.period:
            period = "(?P<period>(?i:" + words_alternation(w.am + w.pm, sp) + "))"
            time = f"{period}{sp}?{time}" if self.period == "before" else f"{time}{sp}?{period}"
        end = {"bracket": rf"\]{sp}?", "dash": rf"\.?{sp}+[-\x{{2013}}]{sp}", "colon": f":{sp}",
               "space": sp}[self.end]
        open_ = rf"\[{mk}" if self.bracket else ""
        return (rf"^(?P<pre>{mk}{open_}(?P<dt>{date}{join}{time}){end})"
                r"(?:(?P<author>[^\r\n]*?)(?P<sep>: |:\r?\n|:$))?")


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
    join = m["join"]
    if join.startswith(","):
        join_kind = "comma"
    elif join.strip(" \u00a0\u202f"):
        join_kind = "word:" + join.strip(" \u00a0\u202f")
    else:
        join_kind = "space"
    period = "before" if m["pb"] else ("after" if m["pa"] else None)
    end = m["end"]
    if m["br"]:
        end_kind = "bracket"
    elif "-" in end or "\u2013" in end:
        end_kind = "dash"
    elif end.startswith(":"):
        end_kind = "colon"
    else:
        end_kind = "space"
    return HeaderFormat(bracket=bool(m["br"]), date_sep=m["ds"], date_sep_space=bool(m["dsp"]),
                        date_trailing_dot=bool(m["dd"]), years=years, join=join_kind, period=period,
                        time_sep=m["ts"], end=end_kind)


@dataclass
class Detection:
    fmt: HeaderFormat | None
    matched: int                  # sample lines that look like a header of some shape
    shapes: Counter               # HeaderFormat -> count


def detect(lines) -> Detection:
    """The most common header shape among ``lines`` (a sample of the file's lines)."""
    rx = generic_regex()
    shapes: Counter = Counter()
    matched = 0
    for line in lines:
        m = rx.match(line)
        if not m:
            continue
        sig = _signature(m)
        if sig is None:
            continue
        matched += 1
        shapes[sig] += 1
    if not shapes:
        return Detection(None, 0, shapes)
    # Most common first; ties broken by a stable key so the choice never depends on dict order.
    best = sorted(shapes.items(), key=lambda kv: (-kv[1], repr(kv[0])))[0][0]
    return Detection(best, matched, shapes)


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
    if len(lines) == 1:
        return with_author
    return with_author and len(good) >= 2 and len(good) * 3 >= len(lines)
