"""``report.pdf`` with fpdf2: embedded Unicode fonts, repeated table headers, "page N of M", a
contents list with page numbers, and every SHA-256 whole on one line (under its row when the
column is too narrow), so a verifier can copy it from the PDF.

Text is measured, wrapped and drawn by :mod:`report_text`; the fonts come from
:mod:`report_fonts`. A character that no font has is shown as its code point, ``[U+1F600]``, never
dropped, and the cover names the script that lacks a font.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from commtrail.case import Case
from commtrail.atomic import atomic_path
from commtrail.inventory import source_name
from commtrail.outputs.pdf_pages import write_footers
from commtrail.outputs.report_data import TOOL, ReportData, exhibit_cells, incident_cells, section_keys
from commtrail.outputs.report_fonts import font_chain
from commtrail.outputs.report_evidence import evidence_cells
from commtrail.outputs.report_html import certification_text, only_in_screenshot_text
from commtrail.outputs.report_text import LINE, PT, TextSetter
from commtrail.outputs.report_words import words

MARGIN_X, MARGIN_TOP, MARGIN_BOTTOM = 14.0, 13.0, 15.0
BODY, SMALL, TINY = 9.0, 7.5, 6.8   # font sizes (pt)
GREY, RED, BLUE, BLACK = (90, 90, 90), (150, 20, 20), (33, 70, 140), (0, 0, 0)
THUMB_MM = 40.0   # the longest side of an evidence thumbnail on the page


def _numbered(parts: list[tuple[str, str | None]], label: str) -> list[tuple[str, str]]:
    """(label, description) of each attachment: "Attachment", or "Attachment 2" when there are several."""
    return [(f"{label} {n}" if len(parts) > 1 else label, text) for n, (text, _) in enumerate(parts, 1)]


def _hash_trailer(parts: list[tuple[str, str | None]], label: str) -> list[Cell]:
    """The full-width cell under a row with the SHA-256 of each attachment (none when none has one)."""
    cell = Cell()
    for (name, _), (_, sha) in zip(_numbered(parts, label), parts):
        if sha:
            cell.add(f"{name}: SHA-256 {sha}", "grey")
    return [cell] if cell.pieces else []


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
    "tiny": (TINY, False, GREY), "path": (SMALL, False, BLACK), "pathtiny": (TINY, False, GREY),
}
PATH_STYLES = {"path", "pathtiny"}   # file names and paths: broken only after a separator


def _make_pdf_class():  # type: ignore[no-untyped-def]
    from fpdf import FPDF

    class ReportPDF(FPDF):
        """Running head with the current section and, inside a table, its column headers."""

        def __init__(self, data: ReportData) -> None:
            super().__init__(orientation="P", unit="mm", format="A4")
            self.data = data
            self.section = ""
            self.columns: list[Column] | None = None
            self.setter: TextSetter | None = None
            self.set_margins(MARGIN_X, MARGIN_TOP, MARGIN_X)
            self.set_auto_page_break(False)
            self.pages_total: int | None = None   # known once every page is laid out (pdf_pages)
            self.alias_nb_pages(None)   # see pdf_pages: no "{nb}" in a message is ever replaced

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
            if self.setter is None or self.pages_total is None:
                return
            self.set_y(-10)
            self.set_text_color(*GREY)
            page = words()["footer"]["page"].format(page=self.page_no(), pages=self.pages_total)
            self.setter.draw(MARGIN_X, self.get_y() + 0.6, f"{TOOL} {self.data.version} \u00b7 master.parquet "
                             f"SHA-256 {self.data.master_sha256}", TINY)
            self.set_font(self.setter.family, "", TINY)
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
        self.fonts = font_chain(extra_fonts)
        self.s = TextSetter(self.pdf, self.fonts)
        self.pdf.setter = self.s
        self.section_pages: dict[str, int] = {}
        self._fresh_page = False
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
        """A new page (the one the contents placeholder left, if still empty), starting ``section``."""
        self.pdf.columns = None
        if section is not None:
            self.pdf.section = section
        if self._fresh_page:
            self._fresh_page = False
        else:
            self.pdf.add_page()
        if section:
            self.section_pages[section] = self.pdf.page_no()
            self.pdf.start_section(section)

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

    def _cell_lines(self, cell: Cell, width: float) -> list[tuple[str, str]]:
        lines = []
        for text, style in cell.pieces:
            size, bold, _ = STYLES[style]
            wrap = self.s.wrap_path if style in PATH_STYLES else self.s.wrap
            lines += [(line, style) for line in wrap(text, width, size, bold)]
        return lines

    def table(self, columns: list[Column], rows: Iterable[list[Cell]], zebra: bool = True) -> None:
        """Rows never cut: a row taller than the rest of the page continues on the next one. A row
        with one cell more than there are columns shows that cell across the whole table, under the
        others (for SHA-256 hashes, which need the width to stay on one line)."""
        pdf = self.pdf
        pdf.columns = None
        self.ensure(30)
        pdf.columns = columns
        pdf._column_header()
        pad = 1.0
        total = sum(c.width for c in columns)
        for n, row in enumerate(rows):
            lines = [self._cell_lines(cell, col.width - 2 * pad) for col, cell in zip(columns, row)]
            trailer = self._cell_lines(row[len(columns)], total - 2 * pad) if len(row) > len(columns) else []
            shade = zebra and n % 2 == 1
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
                if shade:
                    pdf.set_fill_color(246, 246, 246)
                    pdf.rect(MARGIN_X, y0 - pad * 0.6, total, row_h, style="F")
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
                more = any(pos[i] < len(lines[i]) for i in range(len(columns)))
                if more or not trailer:
                    self._rule(total)
                first_chunk = False
                if more:
                    pdf.add_page()
                    cont = words()["exhibits"]["continued"]
                    label = row[0].pieces[0][0].split("\n")[0] if row[0].pieces else ""
                    extra = [(line, "grey") for line in self.s.wrap(f"{label} {cont}", columns[0].width - 2 * pad,
                                                                     STYLES["grey"][0])]
                    lines[0] = lines[0][:pos[0]] + extra + lines[0][pos[0]:]
                    heights[0] = heights[0][:pos[0]] + [self.lh(STYLES["grey"][0])] * len(extra) + heights[0][pos[0]:]
            if trailer:
                self._trailer(trailer, total, pad, shade)
        pdf.columns = None
        pdf.set_y(pdf.get_y() + 3)

    def _trailer(self, lines: list[tuple[str, str]], total: float, pad: float, shade: bool) -> None:
        """The full-width lines under a row."""
        pdf = self.pdf
        for text, style in lines:
            size, bold, colour = STYLES[style]
            height = self.lh(size)
            if pdf.get_y() + height + pad > self.bottom:
                pdf.add_page()
            y = pdf.get_y()
            if shade:
                pdf.set_fill_color(246, 246, 246)
                pdf.rect(MARGIN_X, y, total, height + 0.01, style="F")
            pdf.set_text_color(*colour)
            self.s.draw(MARGIN_X + pad, y, text, size, bold, total - 2 * pad)
            pdf.set_y(y + height)
        if shade:
            pdf.rect(MARGIN_X, pdf.get_y(), total, pad, style="F")
        pdf.set_y(pdf.get_y() + pad)
        pdf.set_text_color(*BLACK)
        self._rule(total)

    def _rule(self, total: float) -> None:
        self.pdf.set_draw_color(200, 200, 200)
        self.pdf.line(MARGIN_X, self.pdf.get_y(), MARGIN_X + total, self.pdf.get_y())

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
        rows = [(c["parties"], parties), (c["owner"], d.owner), (c["period"], period), (c["timezone"], d.timezone),
                (c["events_listed"], d.listed_words()), (w["numbering"]["label"], d.numbering),
                *([(c["selection"], d.selection_words("cover"))] if d.selection else []),
                (c["generated_by"], f"{TOOL} {d.version}"),
                (c["generated_at"], d.generated_at or c["no_timestamp"]), (c["master_hash"], d.master_sha256)]
        for label, value in rows:
            self._cover_row(label, value)
        if d.unlinked:
            pdf.set_y(pdf.get_y() + 3)
            self.para(d.unlinked_words(), SMALL, GREY)
        pdf.set_y(pdf.get_y() + 6)
        # the contents (with page numbers) and any notice about missing fonts are known only at the
        # end: fpdf2 draws them into the rest of this page when the document is written
        self.pdf.section = w["sections"]["summary"]
        pdf.insert_toc_placeholder(self._contents)
        self._fresh_page = True

    def _cover_row(self, label: str, value: str, label_w: float = 42) -> None:
        pdf = self.pdf
        lines = self.s.wrap(value, self.width - label_w, 10)
        self.ensure(len(lines) * self.lh(10))
        y = pdf.get_y()
        label_lines = self.s.wrap(label, label_w - 3, 10, True)
        for i, line in enumerate(label_lines):
            self.s.draw(MARGIN_X, y + i * self.lh(10), line, 10, True)
        for i, line in enumerate(lines):
            self.s.draw(MARGIN_X + label_w, y + i * self.lh(10), line, 10, False, self.width - label_w)
        pdf.set_y(y + max(len(lines), len(label_lines)) * self.lh(10) + 2)

    def _contents(self, pdf, outline) -> None:  # type: ignore[no-untyped-def]
        """The fonts used, the contents list with the page of each section, the missing-font notices."""
        w = words()
        self._cover_row(w["cover"]["fonts"], ", ".join(f.name for f in self.s.used_faces()))
        pdf.set_y(pdf.get_y() + 6)
        self.para(w["cover"]["contents"], 12, bold=True)
        for n, key in enumerate(section_keys(self.data), 1):
            name = w["sections"][key]
            label, page = f"{n}. {name}", str(self.section_pages[name])
            y = pdf.get_y()
            self.s.draw(MARGIN_X, y, label, 10)
            self.s.draw(MARGIN_X + 120 - self.s.width(page, 10), y, page, 10)
            pdf.link(MARGIN_X, y, 120, self.lh(10), pdf.add_link(page=self.section_pages[name]))
            pdf.set_y(y + self.lh(10))
        notices = self.s.missing_notice()
        if notices:
            pdf.set_y(pdf.get_y() + 3)
            for notice in notices:
                self.para(notice, SMALL, RED)

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
        if self.data.selection:
            self.para(self.data.selection_words("exhibits"), SMALL, RED, bold=True)
        if self.data.late_note:
            self.para(self.data.late_note, SMALL, GREY)
        if self.data.exhibits.num_rows == 0:
            self.para(e["none"])
            return
        cols = [Column(e["col_exhibit"], 27), Column(e["col_channel"], 38), Column(e["col_text"], 0),
                Column(e["col_source"], 36)]
        cols[2].width = self.width - sum(c.width for c in cols)
        links = self.case.config.links
        many = len(self.data.parties) > 1
        shown = self.data.shown

        def rows():  # type: ignore[no-untyped-def]
            for batch in self.data.exhibit_batches():
                for row in batch:
                    c = exhibit_cells(row, links, shown, self.data.shots)
                    first = Cell().add(c["exhibit"] + c["mark"], "smallbold").add(c["date"], "small") \
                        .add(c["time"], "small")
                    second = Cell().add(f"{c['channel']} \u00b7 {c['direction']}", "small")
                    if many:
                        second.add(row["party"] or "", "smallbold")
                    second.add(c["who"], "small")
                    text = Cell().add(c["text"], "body")
                    for label, a in _numbered(c["attachment_parts"], e["attachment"]):
                        text.add(f"{label}: {a}", "grey")
                    for note in c["notes"]:
                        text.add(note, "note")
                    src = Cell().add(c["source"], "pathtiny").add(c["locator"], "small").add(c["copies"], "grey")
                    yield [first, second, text, src] + _hash_trailer(c["attachment_parts"], e["attachment"])
        self.table(cols, rows())

    def notes(self) -> None:
        """The reviewer's notes on the listed events (a section only in a report of a selection)."""
        w = words()
        n = w["notes"]
        self.new_page(w["sections"]["notes"])
        self.heading(w["sections"]["notes"])
        self.para(n["intro"], SMALL, RED, bold=True)
        if not self.data.notes:
            self.para(n["none"])
            return
        cols = [Column(n["col_exhibit"], 24), Column(n["col_starred"], 18), Column(n["col_tags"], 36),
                Column(n["col_note"], 0), Column(n["col_written"], 34)]
        cols[3].width = self.width - sum(c.width for c in cols)
        self.table(cols, ([Cell().add(r["exhibit"], "smallbold"), Cell().add(n["starred"] if r["starred"] else "", "small"),
                           Cell().add(", ".join(r["tags"]), "small"), Cell().add(r["note"], "body"),
                           Cell().add(r["written"], "small")] for r in self.data.notes))

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

        shown = self.data.shown

        def rows():  # type: ignore[no-untyped-def]
            for row in self.data.incidents.to_pylist():
                c = incident_cells(row, shown)
                first = Cell().add(c["exhibit"], "smallbold").add(c["date"], "small").add(c["time"], "small") \
                    .add(f"\u201c{c['ts_local']}\u201d", "grey")
                text = Cell().add(c["text"], "body")
                for label, a in _numbered(c["attachment_parts"], i["evidence"]):
                    text.add(f"{label}: {a}", "grey")
                for note in c["notes"]:
                    text.add(note, "note")
                details = Cell()
                for d in c["details"]:
                    details.add(d, "small")
                ev = Cell().add(c["source"], "pathtiny").add(c["locator"], "small")
                yield [first, Cell().add(c["location"], "small"), text, details, ev] + \
                    _hash_trailer(c["attachment_parts"], i["evidence"])
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
                           Cell().add(c["text"], "body"), Cell().add(c["source"], "pathtiny").add(c["locator"], "small"),
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
        cols = [Column(s["col_path"], 0), Column(s["col_size"], 22), Column(s["col_format"], 34),
                Column(s["col_counts"], 28)]
        cols[0].width = self.width - sum(c.width for c in cols)
        limit = 50

        def rows():  # type: ignore[no-untyped-def]
            for r in self.data.sources:
                name = source_name(r["shown"])
                path = Cell().add(name, "path")
                if r["shown"] != name:
                    path.add(r["shown"], "pathtiny")
                warnings = r["warnings"] or []
                for warning in warnings[:limit]:
                    path.add(warning, "note")
                if len(warnings) > limit:
                    path.add(s["more_warnings"].format(count=f"{len(warnings) - limit:,}"), "grey")
                yield [path, Cell().add(f"{r['size']:,}", "small"),
                       Cell().add(r["format"] or "", "small").add(r["parser"] or "", "grey"),
                       Cell().add(f"{r['records']:,} / {r['rejects']:,} / {r['repairs']:,}", "small"),
                       Cell().add(f"SHA-256 {r['sha256']}", "small")]
        self.table(cols, rows())
        self.heading(s["rejects_heading"], 12)
        if self.data.rejects:
            cols = [Column(s["col_path"], 60), Column(s["col_reason"], 0), Column(s["col_count"], 20)]
            cols[1].width = self.width - 80
            self.table(cols, ([Cell().add(p, "path"), Cell().add(r, "small"), Cell().add(f"{n:,}", "smallbold")]
                              for p, r, n in self.data.rejects))
        else:
            self.para(s["no_rejects"])
        d = self.data
        self.para(s["deleted"].format(total=f"{d.deleted_total:,}", listed=f"{d.deleted_listed:,}")
                  if d.deleted_total is not None else s["deleted_none"])
        if d.shots.links.built:
            self.para(only_in_screenshot_text(d))

    def evidence(self) -> None:
        """The evidence files: a thumbnail beside each item's texts, its SHA-256 whole on a line under them."""
        import io

        from PIL import Image
        w = words()
        v = w["evidence"]
        self.new_page(w["sections"]["evidence"])
        self.heading(w["sections"]["evidence"])
        d = self.data
        self.para(v["intro"] if d.all_parties else v["intro_party"].format(party=", ".join(d.parties)), SMALL, GREY)
        pdf, side = self.pdf, THUMB_MM
        for row in d.evidence.to_pylist():
            c = evidence_cells(self.case, row, d.shots, exhibit_cells(row, self.case.config.links, d.shown))
            size = None
            if c["thumbnail"]:
                with Image.open(io.BytesIO(c["thumbnail"])) as im:
                    size = (side, side * im.height / im.width) if im.width >= im.height else \
                        (side * im.width / im.height, side)
            self.ensure((size[1] if size else 0) + 20)
            top = pdf.get_y()
            if size:
                pdf.image(io.BytesIO(c["thumbnail"]), x=MARGIN_X, y=top, w=size[0], h=size[1])
            indent = side + 4
            self.para(f"{c['exhibit']} \u00b7 {c['date']} {c['time']}", BODY, bold=True, indent=indent)
            for text, style in ((c["how"], "grey"), (c["name"], "small"), (c["about"], "small"),
                                (c["no_thumbnail"], "grey"), (c["path"], "grey")):
                if text:
                    self.para(text, STYLES[style][0], STYLES[style][2], indent=indent)
            if c["ocr"]:
                self.para(v["ocr"], SMALL, bold=True, indent=indent)
                self.para(c["ocr"][0], BODY, indent=indent)
                for text in c["ocr"][1:]:
                    self.para(text, SMALL, GREY, indent=indent)
            for text in c["links"]:
                self.para(text, SMALL, RED, indent=indent)
            if size and pdf.get_y() > top:   # the texts ended on the thumbnail's page: go below it
                pdf.set_y(max(pdf.get_y(), top + size[1] + 2))
            self.para(f"SHA-256 {c['sha256']}", SMALL)
            self._rule(self.width)
            pdf.set_y(pdf.get_y() + 3)

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

    def write(self, target: Path) -> list[str]:
        """Write the document; returns the notices about scripts no font could show."""
        self.cover()
        for key in section_keys(self.data):
            getattr(self, key)()
        write_footers(self.pdf)
        with atomic_path(target) as tmp:
            self.pdf.output(str(tmp))
        return self.s.missing_notice()



def write_pdf(case: Case, data: ReportData, target: Path, extra_fonts: Sequence[Path] = (),
              warn: Callable[[str], None] | None = None) -> Path:
    """Write the PDF report atomically; returns its path. ``warn`` receives a notice for each script
    that no installed font could show (the cover of the PDF says the same)."""
    for notice in _Writer(case, data, extra_fonts).write(target):
        if warn is not None:
            warn(notice)
    return target
