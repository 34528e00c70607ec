"""Text setting in the PDF: hashes never broken, paths broken only after separators."""

import pytest
from fpdf import FPDF

from commtrail.outputs.report_fonts import font_chain
from commtrail.outputs.report_text import TextSetter

SHA = "0123456789abcdef" * 4


@pytest.fixture(scope="module")
def setter():
    return TextSetter(FPDF(unit="mm"), font_chain())


def test_a_sha256_stays_whole_even_in_a_narrow_column(setter):
    lines = setter.wrap(f"Attachment: photo.jpg SHA-256 {SHA} end", 40, 7.5)
    assert SHA in lines and lines[0] == "Attachment: photo.jpg" and lines[-1] == "end"


def test_a_path_breaks_only_after_a_separator(setter):
    path = "whatsapp/WhatsApp Chat with Jordan K_2024-very-long-export-name.zip!WhatsApp Chat with Jordan.txt"
    lines = setter.wrap_path(path, 30, 6.8)
    assert "".join(lines) == path and len(lines) > 2
    assert all(line[-1] in "/!_- " for line in lines[:-1])
    assert setter.wrap_path("abcdefghij" * 10, 20, 6.8)[0].startswith("abcdefghij")   # no separator at all:
    assert "".join(setter.wrap_path("abcdefghij" * 10, 20, 6.8)) == "abcdefghij" * 10  # cut, nothing lost
