"""Transcript rows with right-to-left text: the left-to-right head is drawn on its own, the rest shaped."""

import io

import pytest

from commtrail.outputs.report_fonts import font_chain
from commtrail.outputs.report_text import CAN_SHAPE

fpdf = pytest.importorskip("fpdf")
pypdf = pytest.importorskip("pypdf")
pytestmark = pytest.mark.skipif(not CAN_SHAPE, reason="needs uharfbuzz")

HEAD = "[0941] 2023-09-04 02:17:21 BST (+01:00) \u00b7 SMS \u00b7 Jordan \u2192 Sam \u00b7 "
ARABIC = "\u0623\u064a\u0646 \u0623\u0646\u062a\u061f"
HEBREW = "\u05d0\u05e0\u05d9 \u05e6\u05e8\u05d9\u05da"


@pytest.fixture
def setter():
    from commtrail.outputs.transcript import _RowSetter
    pdf = fpdf.FPDF(unit="mm", format="A4")
    pdf.add_page()
    return _RowSetter(pdf, font_chain())


@pytest.mark.parametrize("line, cut", [
    (HEAD + ARABIC, len(HEAD)),
    (HEAD + HEBREW + " and English after", len(HEAD)),
    (ARABIC + " then English", 0),                    # the paragraph is right-to-left
    ("0941 \u00b7 " + HEBREW, 0),                          # no left-to-right letter before it
    ("Sam \u200f\u00b7 " + HEBREW, 0),                     # a right-to-left mark before it
    ("Sam e\u0301 " + HEBREW, 0),                          # a combining mark before it
    ("Sam \u00b7 \u0928\u092e\u0938\u094d\u0924\u0947 " + HEBREW, 0),   # Devanagari (shaped, left-to-right) first
    (HEAD + "no right-to-left text", 0),
])
def test_where_the_left_to_right_head_ends(setter, line, cut):
    assert setter._ltr_head(line) == cut


def test_a_row_with_right_to_left_text_reads_in_logical_order_and_measures_head_plus_rest(setter):
    from commtrail.outputs.report_text import TextSetter
    line = HEAD + ARABIC
    assert setter.width(line, 9) == pytest.approx(TextSetter.width(setter, HEAD, 9) + TextSetter.width(setter, ARABIC, 9))
    setter.pdf.set_y(20)
    setter.draw(49, 20, line, 9, width=149)
    assert setter.pdf.y == 20   # the next line goes below this one, not below the shaped part
    text = pypdf.PdfReader(io.BytesIO(bytes(setter.pdf.output()))).pages[0].extract_text()
    assert text == line
