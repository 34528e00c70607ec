"""The pen writes exactly what fpdf2's set_font + text write; transcripts and reports count pages past 999."""

import warnings
from datetime import datetime, timezone

import pytest

from commtrail.outputs.pdf_pen import Pen
from commtrail.outputs.report_fonts import font_chain

fpdf = pytest.importorskip("fpdf")
pypdf = pytest.importorskip("pypdf")

LINES = [("main", "", 9.0, "[0001] 2024-03-15 08:40 GMT (+00:00) \u00b7 WhatsApp \u00b7 Jordan \u2192 Sam \u00b7 Hi"),
         ("main", "B", 7.5, "CT-000001"),
         ("main", "", 9.0, "back\\slash (paren) and \r carriage return, \u00e9\u00e8 \u201cquotes\u201d"),
         ("mono", "", 6.8, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
         ("main", "", 9.0, "Jordan again \u00b7 the same glyphs, picked once"),
         ("fb0", "", 9.0, "\U0001f697\U0001f440"),
         ("main", "B", 9.0, "DELETED"),
         # enough distinct characters for subset codes 0x28, 0x29, 0x5C and 0x0D and two-byte codes
         ("main", "", 6.0, "".join(map(chr, range(0x21, 0x7F))) + "".join(map(chr, range(0xC0, 0x180))))]


def _document(draw) -> bytes:  # type: ignore[no-untyped-def]
    chain = font_chain()
    pdf = fpdf.FPDF(unit="mm", format="A4")
    pdf.set_creation_date(datetime(2000, 1, 1, tzinfo=timezone.utc))
    pdf.add_font("main", "", str(chain.regular.path))
    pdf.add_font("main", "B", str(chain.bold.path))
    pdf.add_font("mono", "", str(chain.mono.path))
    pdf.add_font("fb0", "", str(chain.fallbacks[0].path))
    for page in range(2):
        pdf.add_page()
        for n, (family, style, size, text) in enumerate(LINES):
            if n == 3:
                pdf.set_text_color(80, 80, 80)
            if n == 5:
                pdf.set_text_color(0, 0, 0)
            draw(pdf, family, style, size, 20 + page, 20 + 6 * n, text)
    return bytes(pdf.output())


def test_the_pen_writes_what_fpdf2_writes_byte_for_byte():
    def by_fpdf2(pdf, family, style, size, x, y, text):  # type: ignore[no-untyped-def]
        pdf.set_font(family, style, size)
        pdf.text(x, y, text)

    pens = {}

    def by_pen(pdf, family, style, size, x, y, text):  # type: ignore[no-untyped-def]
        pens.setdefault(id(pdf), Pen(pdf)).text(family, style, size, x, y, text)

    assert _document(by_pen) == _document(by_fpdf2)


def _transcript_pdf():
    from commtrail.outputs.transcript import _pdf_class
    return _pdf_class()("Transcript \u00b7 Jordan \u00b7 Case", "ab" * 32), "Page"


def _report_pdf():
    from types import SimpleNamespace

    from commtrail.outputs.report_pdf import _make_pdf_class
    return _make_pdf_class()(SimpleNamespace(title="Case", version="1.0", master_sha256="ab" * 32)), "page"


@pytest.mark.parametrize("make", [_transcript_pdf, _report_pdf], ids=["transcript", "report"])
def test_a_document_of_more_than_999_pages_counts_them_all(make):
    import io

    from commtrail.outputs.pdf_pages import write_footers
    from commtrail.outputs.report_text import TextSetter

    pdf, word = make()
    pdf.setter = TextSetter(pdf, font_chain())
    for _ in range(1001):
        pdf.add_page()
    assert write_footers(pdf) == 1001
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = pdf.output()
    pages = pypdf.PdfReader(io.BytesIO(bytes(data))).pages
    assert len(pages) == 1001
    for n in (1, 2, 999, 1000, 1001):
        assert pages[n - 1].extract_text().split("\n")[-1].endswith(f"{word} {n} of 1001")
