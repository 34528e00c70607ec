""""Page X of Y" in an fpdf2 document, written once the number of pages is known.

fpdf2's own way (``alias_nb_pages``) puts a placeholder such as ``{nb}`` in the footer and
replaces it at output with room for three digits only: "Page 1 of 5720" ran into the margin of a
transcript or report of thousands of pages. It also replaces the placeholder in any text set
with ``cell`` or ``multi_cell``: in message text drawn through fpdf2's shaping (right-to-left and
other complex scripts) it printed the page count where the message said "{nb}".
Documents here switch the alias off (``alias_nb_pages(None)``) and call :func:`write_footers`
after the last page is laid out; fpdf2 writes the last page's footer itself when it closes the
document.
"""

from __future__ import annotations

from typing import Any


def write_footers(pdf: Any) -> int:
    """Write the footer of every page but the last at the end of its content, where fpdf2 would
    have put it; the document's ``pages_total`` is set first (the footer reads it). Every page has
    the same size. Returns the number of pages."""
    last = pdf.pages_total = pdf.page
    for pdf.page in range(1, last):
        pdf.current_font_is_set_on_page = False   # each page's content names its own font
        pdf.footer()
    pdf.page = last
    pdf.current_font_is_set_on_page = False
    return last
