"""Lines of text put into an fpdf2 page without fpdf2's per-call overhead.

``FPDF.set_font`` followed by ``FPDF.text`` costs tens of microseconds a line, most of it in
encoding the text one character at a time; a transcript of 100,000 events draws half a million
lines. :class:`Pen` writes the same operators, byte for byte, with each character's encoding
worked out once per font (``str.translate``). It relies on fpdf2 internals (the page's content
buffer, the font's subset map, ``_set_font_for_page``); :func:`usable` checks they are as tested
(fpdf2 2.8.9), and where they are not, or for a font fpdf2 encodes differently (symbol and colour
fonts), the line goes through ``FPDF.text`` instead. tests/outputs/test_pdf_pen.py compares the
bytes of both ways.
"""

from __future__ import annotations

from typing import Any

_ESCAPES = {0x5C: "\\\\", 0x28: "\\(", 0x29: "\\)", 0x0D: "\\r"}   # as fpdf2's escape_parens


class _Encoding(dict):  # type: ignore[type-arg]
    """Code point -> the text fpdf2 writes for it in a string of ``font`` (a ``str.translate``
    table filled as characters first appear, in the order fpdf2 would pick them into the subset)."""

    def __init__(self, font: Any) -> None:
        super().__init__()
        self.font = font
        # fpdf2 maps the text of a symbol font and encodes that of a colour font otherwise
        self.plain = not getattr(font, "is_symbol", False) and not getattr(font, "color_font", None) \
            and hasattr(font, "subset")

    def __missing__(self, code: int) -> str:
        picked = self.font.subset.pick(code)
        if picked is None:
            out = ""
        else:
            out = "".join(_ESCAPES.get(b, chr(b)) for b in chr(picked).encode("utf-16-be"))
        self[code] = out
        return out


def usable(pdf: Any) -> bool:
    """Whether this fpdf2 has the internals :class:`Pen` writes through."""
    return all(hasattr(pdf, name) for name in ("pages", "_set_font_for_page", "current_font_is_set_on_page",
                                                 "_record_text_quad_points", "text_mode", "k", "h"))


class Pen:
    """Draws lines as ``pdf.set_font(family, style, size); pdf.text(x, y, text)`` would."""

    def __init__(self, pdf: Any) -> None:
        from fpdf.enums import TextMode
        self.pdf = pdf
        self.fill = TextMode.FILL
        self.direct = usable(pdf)
        self._encodings: dict[str, _Encoding] = {}
        self._colour: tuple[Any, Any, str] | None = None   # (text colour, fill colour, "q ... " prefix)

    def text(self, family: str, style: str, size: float, x: float, y: float, text: str) -> None:
        pdf = self.pdf
        font = pdf.current_font
        if font is None or font.fontkey != family + style or pdf.font_size_pt != size:
            pdf.set_font(family, style, size)
            font = pdf.current_font
        encoding = self._encodings.get(font.fontkey)
        if encoding is None:
            encoding = self._encodings[font.fontkey] = _Encoding(font)
        contents = pdf.pages[pdf.page].contents if self.direct and pdf.page else None
        if (not encoding.plain or not isinstance(contents, bytearray) or pdf.underline or pdf.strikethrough
                or pdf._record_text_quad_points or pdf.text_mode != self.fill):
            pdf.text(x, y, text)
            return
        if not pdf.current_font_is_set_on_page:
            contents += pdf._set_font_for_page(font, pdf.font_size_pt).encode("latin-1") + b"\n"
        line = f"BT {x * pdf.k:.2f} {(pdf.h - y) * pdf.k:.2f} Td ({text.translate(encoding)}) Tj ET"
        if pdf.fill_color != pdf.text_color:
            line = f"{self._prefix()}{line} Q"
        contents += line.encode("latin-1") + b"\n"

    def _prefix(self) -> str:
        pdf = self.pdf
        if self._colour is None or self._colour[0] is not pdf.text_color or self._colour[1] is not pdf.fill_color:
            self._colour = (pdf.text_color, pdf.fill_color, f"q {pdf.text_color.serialize().lower()} ")
        return self._colour[2]


__all__ = ["Pen", "usable"]
