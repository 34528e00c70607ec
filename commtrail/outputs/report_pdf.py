"""``report.pdf`` with fpdf2: embedded Unicode fonts, repeated table headers, "page N of M".

fpdf2's own line breaking measures text character by character in Python and is far too slow for
tens of thousands of rows, so this module wraps text itself from the fonts' width tables and
places each line with ``FPDF.text`` in runs of one font. Lines with right-to-left script, joined
emoji or flags go through fpdf2's shaping path (uharfbuzz) instead, which applies the Unicode
bidirectional algorithm. A character that no embedded font has is shown as its code point,
``[U+1F600]``, never dropped.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from commtrail.case import Case
from commtrail.atomic import atomic_path
from commtrail.outputs.report_data import TOOL, ReportData, exhibit_cells, incident_cells, section_keys
from commtrail.outputs.report_html import certification_text
from commtrail.outputs.report_words import words

PT = 25.4 / 72                      # mm per point
MARGIN_X, MARGIN_TOP, MARGIN_BOTTOM = 14.0, 13.0, 15.0
BODY, SMALL, TINY = 9.0, 7.5, 6.8   # font sizes (pt)
LINE = 1.22                         # line height as a multiple of the size
GREY, RED, BLUE, BLACK = (90, 90, 90), (150, 20, 20), (33, 70, 140), (0, 0, 0)

# Needs shaping (bidi / joining / ligatures): RTL scripts, ZWJ emoji sequences, flags, skin tones.
_COMPLEX = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff\u200d\U0001f1e6-\U0001f1ff\U0001f3fb-\U0001f3ff]")
_RTL_CLASSES = {"R", "AL"}


def _can_shape() -> bool:
    try:
        import uharfbuzz  # noqa: F401
    except ImportError:  # without it, right-to-left text is drawn unshaped in logical order
        return False
    return True


CAN_SHAPE = _can_shape()


@dataclass
class FontFace:
    key: str           # fpdf2 font family key
    name: str          # human name for the cover
    path: Path
    index: int = 0


def font_chain(extra: Sequence[Path] = ()) -> tuple[FontFace, FontFace, list[FontFace]]:
    """(regular, bold, fallbacks) from data/report_fonts.toml; missing optional ones are skipped."""
    import matplotlib
    spec = tomllib.loads(resources.files("commtrail.data").joinpath("report_fonts.toml").read_text("utf-8"))
    ttf = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    regular = FontFace("main", spec["main"]["name"], ttf / spec["main"]["regular"])
    bold = FontFace("main", spec["main"]["name"] + " Bold", ttf / spec["main"]["bold"])
    fallbacks = []
    for n, entry in enumerate(spec.get("fallback", [])):
        path = _locate(entry)
        if path is not None:
            fallbacks.append(FontFace(f"fb{n}", entry["name"], path, entry.get("index", 0)))
    for n, path in enumerate(extra):
        fallbacks.append(FontFace(f"fx{n}", Path(path).stem, Path(path)))
    return regular, bold, fallbacks


def _locate(entry: dict) -> Path | None:
    package = entry["package"]
    try:
        root = resources.files(package)
    except (ModuleNotFoundError, TypeError):
        return None
    target = root.joinpath(entry["file"])
    try:
        return Path(str(target)) if target.is_file() else None
    except OSError:
        return None


class _Setter:
    """Measures, wraps and draws text in the font chain."""

    def __init__(self, pdf, regular: FontFace, bold: FontFace, fallbacks: list[FontFace]) -> None:  # type: ignore[no-untyped-def]
        self.pdf = pdf
        pdf.add_font(regular.key, "", str(regular.path))
        pdf.add_font(regular.key, "B", str(bold.path))
        for face in fallbacks:
            pdf.add_font(face.key, "", str(face.path), collection_font_number=face.index) if face.index else \
                pdf.add_font(face.key, "", str(face.path))
        pdf.set_fallback_fonts([f.key for f in fallbacks], exact_match=False) if fallbacks else None
        self.regular = pdf.fonts[regular.key]
        self.bold = pdf.fonts[regular.key + "B"]
        self.fallback_keys = [f.key for f in fallbacks]
        self.fallbacks = [pdf.fonts[f.key] for f in fallbacks]
        self.family = regular.key
        self.faces = [regular, bold] + fallbacks
        self._shown: dict[str, str | None] = {}
        self._table: dict[int, str | None] = {}
        self._widths: dict[tuple[str, bool], float] = {}
        self._which: dict[tuple[str, bool], tuple[str, str]] = {}
        self.covered = set(self.regular.cmap)
        for font in self.fallbacks:
            self.covered |= set(font.cmap)

    # -- what is shown ------------------------------------------------------------------------
    def clean(self, text: str) -> str:
        """Display form: line breaks unified, tabs as spaces, characters no font has as [U+XXXX]."""
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        if text.isascii():
            if "\t" in text:
                text = text.replace("\t", "    ")
            if any(c < " " and c != "\n" for c in text):
                text = "".join(c if c >= " " or c == "\n" else f"[U+{ord(c):04X}]" for c in text)
            return text
        new = {}
        for ch in set(text):
            if ch not in self._shown:
                self._shown[ch] = self._decide(ch)
            if self._shown[ch] != ch:
                new[ord(ch)] = self._shown[ch]
        return text.translate(new) if new else text

    def _decide(self, ch: str) -> str | None:
        code = ord(ch)
        if ch == "\n":
            return ch
        if ch == "\t":
            return "    "
        if code < 0x20 or 0x7F <= code < 0xA0:
            return f"[U+{code:04X}]"
        if code in self.covered:
            return ch
        category = unicodedata.category(ch)
        if category == "Cf" or 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF:
            return None   # invisible format marks (bidi marks, variation selectors): nothing to draw
        if category == "Zs":
            return " "
        return f"[U+{code:04X}]"

    # -- measuring ----------------------------------------------------------------------------
    def _font_for(self, ch: str, bold: bool):  # type: ignore[no-untyped-def]
        main = self.bold if bold else self.regular
        code = ord(ch)
        if code in main.cmap:
            return main, (self.family, "B" if bold else "")
        for key, font in zip(self.fallback_keys, self.fallbacks):
            if code in font.cmap:
                return font, (key, "")
        return main, (self.family, "B" if bold else "")

    def char_width(self, ch: str, bold: bool) -> float:
        """Width in mm at 1 pt."""
        key = (ch, bold)
        width = self._widths.get(key)
        if width is None:
            font, which = self._font_for(ch, bold)
            width = font.cw[ord(ch)] * 0.001 * PT
            self._widths[key] = width
            self._which[key] = which
        return width

    def width(self, text: str, size: float, bold: bool = False) -> float:
        if CAN_SHAPE and _COMPLEX.search(text):
            return self._shaped_width(text, size, bold)
        cw = self.char_width
        return sum(cw(c, bold) for c in text) * size

    def _shaped_width(self, text: str, size: float, bold: bool) -> float:
        pdf = self.pdf
        pdf.set_font(self.family, "B" if bold else "", size)
        pdf.set_text_shaping(True)
        try:
            return pdf.get_string_width(text)
        finally:
            pdf.set_text_shaping(False)

    def wrap(self, text: str, width: float, size: float, bold: bool = False) -> list[str]:
        """Lines no wider than ``width`` mm; words longer than a line are broken between characters."""
        out: list[str] = []
        for para in self.clean(text).split("\n"):
            if self.width(para, size, bold) <= width:
                out.append(para)
                continue
            complex_para = CAN_SHAPE and bool(_COMPLEX.search(para))
            measure = (lambda s: self.width(s, size, bold)) if complex_para else None
            cw = self.char_width
            limit = width / size
            line, lw = "", 0.0
            space = cw(" ", bold)
            for word in para.split(" "):
                ww = measure(word) / size if measure else sum(cw(c, bold) for c in word)
                sep = space if line else 0.0
                if lw + sep + ww <= limit and (not measure or not line or measure(line + " " + word) / size <= limit):
                    line = f"{line} {word}" if line else word
                    lw += sep + ww
                    continue
                if line:
                    out.append(line)
                line, lw = "", 0.0
                if ww <= limit:
                    line, lw = word, ww
                    continue
                for ch in word:   # a word wider than the column: break it between characters
                    w = cw(ch, bold)
                    if lw + w > limit and line:
                        out.append(line)
                        line, lw = "", 0.0
                    line += ch
                    lw += w
            out.append(line)
        return out

    # -- drawing ------------------------------------------------------------------------------
    def draw(self, x: float, y: float, line: str, size: float, bold: bool = False, width: float = 0) -> None:
        """Draw one (already cleaned and wrapped) line with its top-left corner at (x, y)."""
        if not line:
            return
        pdf = self.pdf
        if CAN_SHAPE and _COMPLEX.search(line):
            pdf.set_font(self.family, "B" if bold else "", size)
            pdf.set_text_shaping(True)
            try:
                pdf.set_xy(x, y)
                align = "R" if width and _base_rtl(line) else "L"
                pdf.cell(width or self.width(line, size, bold) + 1, size * PT * LINE, line, align=align)
            finally:
                pdf.set_text_shaping(False)
            return
        base = y + size * PT * 0.95
        if line.isascii():
            pdf.set_font(self.family, "B" if bold else "", size)
            pdf.text(x, base, line)
            return
        cw = self.char_width
        run, run_font, run_w = [], None, 0.0
        for ch in line:
            w = cw(ch, bold)
            which = self._which[(ch, bold)]
            if unicodedata.category(ch) in ("Mn", "Me") and run_font is not None:
                which = run_font   # a combining mark stays with its base
            if which != run_font and run:
                pdf.set_font(run_font[0], run_font[1], size)
                pdf.text(x, base, "".join(run))
                x += run_w * size
                run, run_w = [], 0.0
            run_font = which
            run.append(ch)
            run_w += w
        if run:
            pdf.set_font(run_font[0], run_font[1], size)
            pdf.text(x, base, "".join(run))


def _base_rtl(text: str) -> bool:
    for ch in text:
        kind = unicodedata.bidirectional(ch)
        if kind in _RTL_CLASSES:
            return True
        if kind == "L":
            return False
    return False


# ------------------------------------------------------------------------------------------------
# the document

@dataclass
class Column:
    title: str
    width: float


@dataclass
class Cell:
    """One table cell: a list of (text, style) pieces, each starting on a new line."""

    pieces: list[tuple[str, str]] = field(default_factory=list)

    def add(self, text: str, style: str = "body") -> "Cell":
        if text:
            self.pieces.append((text, style))
        return self


STYLES = {  # style -> (size, bold, colour)
    "body": (BODY, False, BLACK), "bold": (BODY, True, BLACK), "small": (SMALL, False, BLACK),
    "smallbold": (SMALL, True, BLACK), "grey": (SMALL, False, GREY), "note": (SMALL, False, RED),
    "tiny": (TINY, False, GREY),
}


def _make_pdf_class():  # type: ignore[no-untyped-def]
    from fpdf import FPDF

    class ReportPDF(FPDF):
        """Running head with the current section and, inside a table, its column headers."""

        def __init__(self, data: ReportData) -> None:
            super().__init__(orientation="P", unit="mm", format="A4")
            self.data = data
            self.section = ""
            self.columns: list[Column] | None = None
            self.setter: _Setter | None = None
            self.set_margins(MARGIN_X, MARGIN_TOP, MARGIN_X)
            self.set_auto_page_break(False)
            self.alias_nb_pages("{nb}")

        def header(self) -> None:
            if self.page == 1 or self.setter is None:
                return
            s = self.setter
            self.set_text_color(*GREY)
            title = s.clean(self.data.title)
            s.draw(MARGIN_X, 6, s.wrap(title, 120, TINY)[0], TINY)
            if self.section:
                right = s.clean(self.section)
                s.draw(self.w - MARGIN_X - s.width(right, TINY), 6, right, TINY)
            self.set_draw_color(180, 180, 180)
            self.line(MARGIN_X, 10, self.w - MARGIN_X, 10)
            self.set_text_color(*BLACK)
            self.set_y(MARGIN_TOP)
            if self.columns:
                self._column_header()

        def _column_header(self) -> None:
            s = self.setter
            assert s is not None and self.columns is not None
            lines = [s.wrap(c.title, c.width - 2, SMALL, True) for c in self.columns]
            height = max(len(x) for x in lines) * SMALL * PT * LINE + 2
            y = self.get_y()
            self.set_fill_color(230, 230, 230)
            self.rect(MARGIN_X, y, sum(c.width for c in self.columns), height, style="F")
            x = MARGIN_X
            for col, col_lines in zip(self.columns, lines):
                for i, line in enumerate(col_lines):
                    s.draw(x + 1, y + 1 + i * SMALL * PT * LINE, line, SMALL, True)
                x += col.width
            self.set_y(y + height)

        def footer(self) -> None:
            if self.setter is None:
                return
            self.set_y(-10)
            self.set_font(self.setter.family, "", TINY)
            self.set_text_color(*GREY)
            page = words()["footer"]["page"].format(page=self.page_no(), pages="{nb}")
            self.cell(0, 4, f"{TOOL} {self.data.version} \u00b7 master.parquet SHA-256 "
                            f"{self.data.master_sha256[:16]}\u2026", align="L")
            self.set_x(MARGIN_X)
            self.cell(0, 4, page, align="R")
            self.set_text_color(*BLACK)

    return ReportPDF


class _Writer:
    def __init__(self, case: Case, data: ReportData, extra_fonts: Sequence[Path] = ()) -> None:
        import fpdf
        self.case = case
        self.data = data
        self.pdf = _make_pdf_class()(data)
        regular, bold, fallbacks = font_chain(extra_fonts)
        self.s = _Setter(self.pdf, regular, bold, fallbacks)
        self.pdf.setter = self.s
        self.faces = [regular, bold] + fallbacks
        pdf = self.pdf
        pdf.set_title(data.title)
        pdf.set_author(data.owner)
        pdf.set_subject(words()["cover"]["heading"])
        pdf.set_creator(f"{TOOL} {data.version}")
        pdf.set_producer(f"{TOOL} {data.version} with fpdf2 {fpdf.__version__}")
        pdf.set_creation_date(data.pdf_date)
        pdf.set_lang("en")
        self.bottom = pdf.h - MARGIN_BOTTOM
        self.width = pdf.w - 2 * MARGIN_X

    # -- primitives ---------------------------------------------------------------------------
    def lh(self, size: float) -> float:
        return size * PT * LINE

    def new_page(self, section: str | None = None) -> None:
        self.pdf.columns = None
        if section is not None:
            self.pdf.section = section
        self.pdf.add_page()

    def ensure(self, height: float) -> None:
        if self.pdf.get_y() + height > self.bottom:
            self.pdf.add_page()

    def heading(self, text: str, size: float = 15) -> None:
        self.ensure(self.lh(size) * 2 + 10)
        self.pdf.set_text_color(*BLACK)
        for line in self.s.wrap(text, self.width, size, True):
            self.s.draw(MARGIN_X, self.pdf.get_y(), line, size, True)
            self.pdf.set_y(self.pdf.get_y() + self.lh(size))
        self.pdf.set_y(self.pdf.get_y() + 1.5)

    def para(self, text: str, size: float = BODY, colour=BLACK, bold: bool = False, indent: float = 0) -> None:  # type: ignore[no-untyped-def]
        self.pdf.set_text_color(*colour)
        for line in self.s.wrap(text, self.width - indent, size, bold):
            self.ensure(self.lh(size))
            self.s.draw(MARGIN_X + indent, self.pdf.get_y(), line, size, bold, self.width - indent)
            self.pdf.set_y(self.pdf.get_y() + self.lh(size))
        self.pdf.set_y(self.pdf.get_y() + size * PT * 0.6)
        self.pdf.set_text_color(*BLACK)

    def table(self, columns: list[Column], rows: Iterable[list[Cell]], zebra: bool = True) -> None:
        """Rows never cut: a row taller than the rest of the page continues on the next one."""
        pdf = self.pdf
        pdf.columns = None
        self.ensure(30)
        pdf.columns = columns
        pdf._column_header()
        pad = 1.0
        for n, row in enumerate(rows):
            lines: list[list[tuple[str, str]]] = []
            for col, cell in zip(columns, row):
                cell_lines = []
                for text, style in cell.pieces:
                    size, bold, _ = STYLES[style]
                    cell_lines += [(line, style) for line in self.s.wrap(text, col.width - 2 * pad, size, bold)]
                lines.append(cell_lines)
            heights = [[self.lh(STYLES[st][0]) for _, st in col] for col in lines]
            pos = [0] * len(columns)
            first_chunk = True
            while any(pos[i] < len(lines[i]) for i in range(len(columns))):
                y0 = pdf.get_y() + pad * 0.6
                room = self.bottom - y0
                take = []
                for i in range(len(columns)):
                    used, k = 0.0, pos[i]
                    while k < len(lines[i]) and used + heights[i][k] <= room:
                        used += heights[i][k]
                        k += 1
                    take.append((k, used))
                total_left = sum(sum(h[pos[i]:]) for i, h in enumerate(heights))
                if first_chunk and room < 40 and max(sum(h[pos[i]:]) for i, h in enumerate(heights)) > room:
                    pdf.add_page()       # don't start a long row at the foot of a page
                    first_chunk = False
                    continue
                if all(take[i][0] == pos[i] for i in range(len(columns))) and total_left:
                    pdf.add_page()
                    continue
                row_h = max(u for _, u in take) + pad * 1.2
                if zebra and n % 2:
                    pdf.set_fill_color(246, 246, 246)
                    pdf.rect(MARGIN_X, y0 - pad * 0.6, sum(c.width for c in columns), row_h, style="F")
                x = MARGIN_X
                for i, col in enumerate(columns):
                    y = y0
                    for k in range(pos[i], take[i][0]):
                        text, style = lines[i][k]
                        size, bold, colour = STYLES[style]
                        pdf.set_text_color(*colour)
                        self.s.draw(x + pad, y, text, size, bold, col.width - 2 * pad)
                        y += heights[i][k]
                    pos[i] = take[i][0]
                    x += col.width
                pdf.set_text_color(*BLACK)
                pdf.set_y(y0 - pad * 0.6 + row_h)
                pdf.set_draw_color(200, 200, 200)
                pdf.line(MARGIN_X, pdf.get_y(), MARGIN_X + sum(c.width for c in columns), pdf.get_y())
                first_chunk = False
                if any(pos[i] < len(lines[i]) for i in range(len(columns))):
                    pdf.add_page()
                    cont = words()["exhibits"]["continued"]
                    label = row[0].pieces[0][0].split("\n")[0] if row[0].pieces else ""
                    extra = [(line, "grey") for line in self.s.wrap(f"{label} {cont}", columns[0].width - 2 * pad,
                                                                     STYLES["grey"][0])]
                    lines[0] = lines[0][:pos[0]] + extra + lines[0][pos[0]:]
                    heights[0] = heights[0][:pos[0]] + [self.lh(STYLES["grey"][0])] * len(extra) + heights[0][pos[0]:]
        pdf.columns = None
        pdf.set_y(pdf.get_y() + 3)

    # -- sections -----------------------------------------------------------------------------
    def cover(self) -> None:
        d, w = self.data, words()
        c = w["cover"]
        self.new_page("")
        pdf = self.pdf
        pdf.set_y(30)
        self.para(c["heading"], 11, GREY)
        self.heading(d.title, 22)
        pdf.set_y(pdf.get_y() + 4)
        parties = ", ".join(d.parties) + (f" ({c['party_all']})" if d.all_parties else "")
        period = f"{d.period[0]} \u2013 {d.period[1]}" if d.period else c["period_none"]
        fonts = ", ".join(f.name for f in self.faces[:1] + self.faces[2:])
        rows = [(c["parties"], parties), (c["owner"], d.owner), (c["period"], period), (c["timezone"], d.timezone),
                (c["events_listed"], f"{d.exhibits.num_rows:,}"), (c["generated_by"], f"{TOOL} {d.version}"),
                (c["generated_at"], d.generated_at or c["no_timestamp"]), (c["master_hash"], d.master_sha256),
                (c["fonts"], fonts)]
        label_w = 52
        for label, value in rows:
            lines = self.s.wrap(value, self.width - label_w, 10)
            self.ensure(len(lines) * self.lh(10))
            y = pdf.get_y()
            label_lines = self.s.wrap(label, label_w - 3, 10, True)
            for i, line in enumerate(label_lines):
                self.s.draw(MARGIN_X, y + i * self.lh(10), line, 10, True)
            for i, line in enumerate(lines):
                self.s.draw(MARGIN_X + label_w, y + i * self.lh(10), line, 10, False, self.width - label_w)
            pdf.set_y(y + max(len(lines), len(label_lines)) * self.lh(10) + 2)
        if d.unlinked:
            pdf.set_y(pdf.get_y() + 3)
            self.para(c["unlinked"].format(count=f"{d.unlinked:,}"), SMALL, GREY)
        pdf.set_y(pdf.get_y() + 6)
        self.para(c["contents"], 12, bold=True)
        for n, key in enumerate(section_keys(d), 1):
            self.para(f"{n}. {w['sections'][key]}", 10)

    def summary(self) -> None:
        w = words()
        self.new_page(w["sections"]["summary"])
        self.heading(w["sections"]["summary"])
        self.para(w["summary"]["intro"], SMALL, GREY)
        for sec in self.data.sections:
            self.heading(sec.name, 12)
            for sentence in sec.sentences:
                self.para(sentence, 10)
            cols = [Column(w["summary"]["figure"], self.width - 50), Column(w["summary"]["value"], 50)]
            self.table(cols, ([Cell().add(label), Cell().add(value, "bold")] for label, value in sec.figures))

    def charts(self) -> None:
        w = words()
        self.new_page(w["sections"]["charts"])
        self.heading(w["sections"]["charts"])
        from PIL import Image
        for sec in self.data.sections:
            for path, caption in sec.charts:
                with Image.open(path) as im:
                    ratio = im.height / im.width
                height = self.width * ratio
                self.ensure(height + 16)
                self.pdf.image(str(path), x=MARGIN_X, y=self.pdf.get_y(), w=self.width, h=height)
                self.pdf.set_y(self.pdf.get_y() + height + 2)
                self.para(caption, SMALL, GREY)
                self.pdf.set_y(self.pdf.get_y() + 4)

    def exhibits(self) -> None:
        w = words()
        e = w["exhibits"]
        self.new_page(w["sections"]["exhibits"])
        self.heading(w["sections"]["exhibits"])
        self.para(e["intro"].format(who=", ".join(self.data.parties), zone=self.data.timezone), SMALL, GREY)
        if self.data.exhibits.num_rows == 0:
            self.para(e["none"])
            return
        cols = [Column(e["col_exhibit"], 27), Column(e["col_channel"], 38), Column(e["col_text"], 0),
                Column(e["col_source"], 36)]
        cols[2].width = self.width - sum(c.width for c in cols)
        links = self.case.config.links
        many = len(self.data.parties) > 1

        def rows():  # type: ignore[no-untyped-def]
            for batch in self.data.exhibit_batches():
                for row in batch:
                    c = exhibit_cells(row, links)
                    first = Cell().add(c["exhibit"], "smallbold").add(c["date"], "small").add(c["time"], "small")
                    second = Cell().add(f"{c['channel']} \u00b7 {c['direction']}", "small")
                    if many:
                        second.add(row["party"] or "", "smallbold")
                    second.add(c["who"], "small")
                    text = Cell().add(c["text"], "body")
                    for a in c["attachments"]:
                        text.add(f"{e['attachment']}: {a}", "grey")
                    for note in c["notes"]:
                        text.add(note, "note")
                    src = Cell().add(c["source"], "tiny").add(c["locator"], "small").add(c["copies"], "grey")
                    yield [first, second, text, src]
        self.table(cols, rows())

    def incidents(self) -> None:
        w = words()
        i = w["incidents"]
        self.new_page(w["sections"]["incidents"])
        self.heading(w["sections"]["incidents"])
        intro, none = self.data.incident_words()
        self.para(intro, SMALL, GREY)
        if self.data.incidents.num_rows == 0:
            self.para(none)
            return
        cols = [Column(i["col_when"], 27), Column(i["col_where"], 30), Column(i["col_what"], 0),
                Column(i["col_details"], 42), Column(i["col_source"], 30)]
        cols[2].width = self.width - sum(c.width for c in cols)

        def rows():  # type: ignore[no-untyped-def]
            for row in self.data.incidents.to_pylist():
                c = incident_cells(row)
                first = Cell().add(c["exhibit"], "smallbold").add(c["date"], "small").add(c["time"], "small") \
                    .add(f"\u201c{c['ts_local']}\u201d", "grey")
                text = Cell().add(c["text"], "body")
                for a in c["attachments"]:
                    text.add(f"{i['evidence']}: {a}", "grey")
                for note in c["notes"]:
                    text.add(note, "note")
                details = Cell()
                for d in c["details"]:
                    details.add(d, "small")
                ev = Cell().add(c["source"], "tiny").add(c["locator"], "small")
                yield [first, Cell().add(c["location"], "small"), text, details, ev]
        self.table(cols, rows())

    def undated(self) -> None:
        """The events with no time (a section only when there are some)."""
        if not self.data.undated:
            return
        w = words()
        u, e = w["undated"], w["exhibits"]
        self.new_page(w["sections"]["undated"])
        self.heading(w["sections"]["undated"])
        self.para(u["intro"], SMALL, GREY)
        cols = [Column(e["col_number"], 22), Column(e["col_channel"], 38), Column(e["col_text"], 0),
                Column(e["col_source"], 36), Column(u["col_reason"], 40)]
        cols[2].width = self.width - sum(c.width for c in cols)
        self.table(cols, ([Cell().add(c["exhibit"], "smallbold"),
                           Cell().add(f"{c['channel']} \u00b7 {c['direction']}", "small").add(c["who"], "small"),
                           Cell().add(c["text"], "body"), Cell().add(c["source"], "tiny").add(c["locator"], "small"),
                           Cell().add(c["reason"], "small")] for c in self.data.undated))

    def identifiers(self) -> None:
        w = words()
        d = w["identifiers"]
        self.new_page(w["sections"]["identifiers"])
        self.heading(w["sections"]["identifiers"])
        cols = [Column(d["col_identifier"], 48), Column(d["col_first"], 30), Column(d["col_last"], 30),
                Column(d["col_events"], 16), Column(d["col_link"], 0)]
        cols[4].width = self.width - sum(c.width for c in cols)
        for sec in self.data.sections:
            self.heading(sec.name, 12)
            self.para(d["intro"].format(party=sec.name), SMALL, GREY)

            def rows(sec=sec):  # type: ignore[no-untyped-def]
                for r in sec.identifiers:
                    link = r["link"]
                    linked = d["link"].format(key=link.key, line=link.line, raw=link.raw) if link else d["no_link"]
                    shown = Cell().add(r["shown"], "small").add(r["check"] or "", "grey")
                    yield [shown, Cell().add(r["first"] or d["never_seen"], "small"),
                           Cell().add(r["last"] or "", "small"), Cell().add(f"{r['events']:,}", "smallbold"),
                           Cell().add(linked, "small")]
            self.table(cols, rows())

    def sources(self) -> None:
        w = words()
        s = w["sources"]
        self.new_page(w["sections"]["sources"])
        self.heading(w["sections"]["sources"])
        self.para(s["intro"], SMALL, GREY)
        cols = [Column(s["col_path"], 0), Column(s["col_sha"], 28), Column(s["col_size"], 22),
                Column(s["col_format"], 30), Column(s["col_counts"], 26)]
        cols[0].width = self.width - sum(c.width for c in cols)
        limit = 50

        def rows():  # type: ignore[no-untyped-def]
            for r in self.data.sources:
                path = Cell().add(r["path"], "small")
                warnings = r["warnings"] or []
                for warning in warnings[:limit]:
                    path.add(warning, "note")
                if len(warnings) > limit:
                    path.add(s["more_warnings"].format(count=f"{len(warnings) - limit:,}"), "grey")
                sha = r["sha256"]
                yield [path, Cell().add("\n".join(sha[i:i + 16] for i in range(0, 64, 16)), "tiny"), Cell().add(f"{r['size']:,}", "small"),
                       Cell().add(r["format"] or "", "small").add(r["parser"] or "", "grey"),
                       Cell().add(f"{r['records']:,} / {r['rejects']:,} / {r['repairs']:,}", "small")]
        self.table(cols, rows())
        self.heading(s["rejects_heading"], 12)
        if self.data.rejects:
            cols = [Column(s["col_path"], 60), Column(s["col_reason"], 0), Column(s["col_count"], 20)]
            cols[1].width = self.width - 80
            self.table(cols, ([Cell().add(p, "small"), Cell().add(r, "small"), Cell().add(f"{n:,}", "smallbold")]
                              for p, r, n in self.data.rejects))
        else:
            self.para(s["no_rejects"])
        d = self.data
        self.para(s["deleted"].format(total=f"{d.deleted_total:,}", listed=f"{d.deleted_listed:,}")
                  if d.deleted_total is not None else s["deleted_none"])

    def certification(self) -> None:
        w = words()
        self.new_page(w["sections"]["certification"])
        self.heading(w["sections"]["certification"])
        pdf = self.pdf
        banner = self.s.wrap(w["certification"]["banner"], self.width - 8, 11, True)
        height = len(banner) * self.lh(11) + 6
        y = pdf.get_y()
        pdf.set_draw_color(*RED)
        pdf.set_line_width(0.8)
        pdf.rect(MARGIN_X, y, self.width, height)
        pdf.set_line_width(0.2)
        pdf.set_text_color(*RED)
        for i, line in enumerate(banner):
            self.s.draw(MARGIN_X + 4, y + 3 + i * self.lh(11), line, 11, True)
        pdf.set_text_color(*BLACK)
        pdf.set_y(y + height + 6)
        for paragraph in certification_text(self.data):
            self.para(paragraph, 10)
            pdf.set_y(pdf.get_y() + 1.5)

    def write(self, target: Path) -> Path:
        self.cover()
        self.summary()
        self.charts()
        self.exhibits()
        self.incidents()
        self.undated()
        self.identifiers()
        self.sources()
        self.certification()
        with atomic_path(target) as tmp:
            self.pdf.output(str(tmp))
        return target


def write_pdf(case: Case, data: ReportData, target: Path, extra_fonts: Sequence[Path] = ()) -> Path:
    """Write the PDF report atomically; returns its path."""
    return _Writer(case, data, extra_fonts).write(target)
