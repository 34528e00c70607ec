"""Text in the PDF report: what each character shows as, widths from the fonts' tables, line
wrapping and drawing in runs of one font.

fpdf2's own line breaking measures text character by character in Python and is far too slow for
tens of thousands of rows, so this module wraps text itself from the fonts' width tables and
places each line with ``FPDF.text`` in runs of one font. Lines with right-to-left or Indic script,
Thai, joined emoji or flags go through fpdf2's shaping path (uharfbuzz) instead, which applies the
Unicode bidirectional algorithm and the script's shaping. A SHA-256 is drawn in the monospace font
and never broken; file names and paths break only after a separator.
"""

from __future__ import annotations

import re
import unicodedata
from itertools import groupby

from commtrail.outputs.pdf_pen import Pen
from commtrail.outputs.report_fonts import FontChain, FontFace
from commtrail.outputs.report_words import words

PT = 25.4 / 72                      # mm per point
LINE = 1.22                         # line height as a multiple of the size

# Needs shaping (bidi / joining / ligatures / reordering): RTL scripts, the Indic scripts, Thai,
# Lao, Tibetan, Myanmar, Khmer, ZWJ emoji sequences, flags, skin tones.
_COMPLEX = re.compile("[\u0590-\u08ff\u0900-\u0dff\u0e00-\u0fff\u1000-\u109f\u1780-\u17ff\ufb1d-\ufdff"
                      "\ufe70-\ufeff\u200d\U0001f1e6-\U0001f1ff\U0001f3fb-\U0001f3ff]")
# A SHA-256 in hex: drawn in the monospace font, never broken, so it copies whole from the PDF.
HASH = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")
# Where a long file name or path may break: after one of these.
_PATH_BREAK = re.compile(r"(?<=[/\\!_\- ])")
_RTL_CLASSES = {"R", "AL"}


def _can_shape() -> bool:
    try:
        import uharfbuzz  # noqa: F401
    except ImportError:  # without it, right-to-left text is drawn unshaped in logical order
        return False
    return True


CAN_SHAPE = _can_shape()


class TextSetter:
    """Measures, wraps and draws text in the font chain."""

    def __init__(self, pdf, chain: FontChain) -> None:  # type: ignore[no-untyped-def]
        self.pdf = pdf
        self.pen = Pen(pdf)
        self.chain = chain
        regular = chain.regular
        pdf.add_font(regular.key, "", str(regular.path))
        pdf.add_font(regular.key, "B", str(chain.bold.path))
        pdf.add_font(chain.mono.key, "", str(chain.mono.path))
        self.regular = pdf.fonts[regular.key]
        self.bold = pdf.fonts[regular.key + "B"]
        self.mono = pdf.fonts[chain.mono.key]
        self.family = regular.key
        self.faces: list[FontFace] = []          # the fallbacks loaded, in the order they are tried
        self.fallback_keys: list[str] = []
        self.fallbacks: list = []  # type: ignore[type-arg]
        self.covered = set(self.regular.cmap)
        for face in chain.fallbacks:
            self._load(face)
        self._shown: dict[str, str | None] = {}
        self._widths: dict[tuple[str, bool], float] = {}
        self._by_weight: dict[bool, dict[str, float]] = {False: {}, True: {}}   # the same widths, by character
        self._font_by_weight: dict[bool, dict[str, tuple[str, str]]] = {False: {}, True: {}}   # and their fonts
        self._marks: set[str] = set()   # the combining marks among them
        self.missing: dict[str, list[int]] = {}   # script -> the code points no font could show

    def _load(self, face: FontFace) -> None:
        """Add a fallback font (a script's font is loaded only when its script first appears)."""
        if face.key in self.fallback_keys:
            return
        self.pdf.add_font(face.key, "", str(face.path), collection_font_number=face.index)
        self.faces.append(face)
        self.fallback_keys.append(face.key)
        self.fallbacks.append(self.pdf.fonts[face.key])
        self.covered |= set(self.fallbacks[-1].cmap)
        self.pdf.set_fallback_fonts(self.fallback_keys, exact_match=False)

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
        for script in self.chain.scripts:
            if script.face is not None and script.has(code) and script.face.key not in self.fallback_keys:
                self._load(script.face)
                if code in self.covered:
                    return ch
        category = unicodedata.category(ch)
        if category == "Cf" or 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF:
            return None   # invisible format marks (bidi marks, variation selectors): nothing to draw
        if category == "Zs":
            return " "
        self.missing.setdefault(self.chain.script_of(code) or "", []).append(code)
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
            self._by_weight[bold][ch] = width
            self._font_by_weight[bold][ch] = which
            if unicodedata.category(ch) in ("Mn", "Me"):
                self._marks.add(ch)
        return width

    def text_width(self, text: str, bold: bool) -> float:
        """Width in mm at 1 pt of ``text`` measured character by character (one dictionary lookup
        a character once each is known; the same sum as adding :meth:`char_width` in order)."""
        try:
            return sum(map(self._by_weight[bold].__getitem__, text))
        except KeyError:
            return sum(self.char_width(c, bold) for c in text)

    def mono_width(self, text: str, size: float) -> float:
        return self.mono.cw[ord("0")] * 0.001 * PT * len(text) * size

    def width(self, text: str, size: float, bold: bool = False) -> float:
        if len(text) >= 64 and HASH.search(text):
            parts = _split_hashes(text)
            if len(parts) > 1:
                return sum(self.mono_width(t, size) if is_hash else self.width(t, size, bold) for t, is_hash in parts)
        if CAN_SHAPE and _COMPLEX.search(text):
            return self._shaped_width(text, size, bold)
        return self.text_width(text, bold) * size

    def _shaped_width(self, text: str, size: float, bold: bool) -> float:
        pdf = self.pdf
        pdf.set_font(self.family, "B" if bold else "", size)
        pdf.set_text_shaping(True)
        try:
            return pdf.get_string_width(text)
        finally:
            pdf.set_text_shaping(False)

    def wrap(self, text: str, width: float, size: float, bold: bool = False) -> list[str]:
        """Lines no wider than ``width`` mm; words longer than a line are broken between characters,
        except a SHA-256, which always stays whole on one line."""
        return self._wrap(self.clean(text), " ", width, size, bold)

    def wrap_path(self, text: str, width: float, size: float, bold: bool = False) -> list[str]:
        """Like :meth:`wrap` for a file name or path: lines break only after a separator
        (``/ \\ ! _ -`` or a space), between characters only when one part is wider than a line."""
        return self._wrap(self.clean(text), "", width, size, bold)

    def _wrap(self, text: str, joiner: str, width: float, size: float, bold: bool) -> list[str]:
        out: list[str] = []
        for para in text.split("\n"):
            if self.width(para, size, bold) <= width:
                out.append(para)
                continue
            words = para.split(" ") if joiner else [w for w in _PATH_BREAK.split(para) if w]
            complex_para = CAN_SHAPE and bool(_COMPLEX.search(para))
            measure = (lambda t: self.width(t, size, bold)) if complex_para or HASH.search(para) else None
            cw = self.char_width
            limit = width / size
            line, lw = "", 0.0
            space = cw(" ", bold) if joiner else 0.0
            for word in words:
                ww = measure(word) / size if measure else self.text_width(word, bold)
                sep = space if line else 0.0
                if lw + sep + ww <= limit and (not measure or not line or
                                               measure(line + joiner + word) / size <= limit):
                    line = f"{line}{joiner}{word}" if line else word
                    lw += sep + ww
                    continue
                if line:
                    out.append(line)
                line, lw = "", 0.0
                if ww <= limit or HASH.search(word):
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
        parts = _split_hashes(line)
        if len(parts) > 1:
            for text, is_hash in parts:
                if is_hash:
                    self.pen.text(self.mono_key, "", size, x, y + size * PT * 0.95, text)
                    x += self.mono_width(text, size)
                else:
                    self.draw(x, y, text, size, bold)
                    x += self.width(text, size, bold)
            return
        if CAN_SHAPE and _COMPLEX.search(line):
            self.draw_shaped(x, y, line, size, bold, width)
            return
        base = y + size * PT * 0.95
        if line.isascii():
            self.pen.text(self.family, "B" if bold else "", size, x, base, line)
            return
        for (family, style), run in self._runs(line, bold):
            self.pen.text(family, style, size, x, base, run)
            x += self.text_width(run, bold) * size

    def _runs(self, line: str, bold: bool) -> list[tuple[tuple[str, str], str]]:
        """``line`` cut into runs of one font, each (font key and style, text); a combining mark
        stays with its base."""
        fonts = self._font_by_weight[bold]
        if not fonts.keys() >= set(line):
            for ch in line:
                self.char_width(ch, bold)
        keys = list(map(fonts.__getitem__, line))
        if not self._marks.isdisjoint(line):
            for i in range(1, len(line)):   # a run of marks takes the font of the base before them
                if line[i] in self._marks:
                    keys[i] = keys[i - 1]
        runs, start = [], 0
        for key, group in groupby(keys):
            end = start + sum(1 for _ in group)
            runs.append((key, line[start:end]))
            start = end
        return runs

    def draw_shaped(self, x: float, y: float, line: str, size: float, bold: bool = False, width: float = 0,
                    direction: str | None = None) -> None:
        """Draw ``line`` through fpdf2's shaping (bidi and the script's shaping) in ``width`` (0: its
        own width); ``direction``: the paragraph's ("ltr" or "rtl"), else that of its first strong
        character. A right-to-left paragraph is right-aligned in ``width``."""
        pdf = self.pdf
        pdf.set_font(self.family, "B" if bold else "", size)
        pdf.set_text_shaping(True, direction=direction)
        try:
            pdf.set_xy(x, y)
            rtl = direction == "rtl" if direction else _base_rtl(line)
            pdf.cell(width or self.width(line, size, bold) + 1, size * PT * LINE, line,
                     align="R" if width and rtl else "L")
        finally:
            pdf.set_text_shaping(False)

    def used_faces(self) -> list:  # type: ignore[type-arg]
        """The fonts that drew something: the main and monospace fonts, and each fallback that has
        the first glyph of a character no font before it has (fpdf2 picks fallbacks the same way)."""
        used = set()
        for ch, shown in self._shown.items():
            if shown == ch and ord(ch) not in self.regular.cmap:
                key = next((k for k, f in zip(self.fallback_keys, self.fallbacks) if ord(ch) in f.cmap), None)
                used.add(key)
        chain = self.chain
        return [chain.regular, chain.mono] + [f for f in self.faces if f.key in used]

    @property
    def mono_key(self) -> str:
        return self.chain.mono.key

    def missing_notice(self) -> list[str]:
        """One sentence per script that no font could show (empty when every character was shown)."""
        w = words()["cover"]
        out = []
        for script in sorted(self.missing, key=lambda s: (s == "", s)):
            codes = sorted(set(self.missing[script]))
            example = f"[U+{codes[0]:04X}]"
            if script:
                out.append(w["missing_script"].format(script=script, count=f"{len(codes):,}", example=example,
                                                      package=self.chain.install_hint(script)))
            else:
                out.append(w["missing_other"].format(count=f"{len(codes):,}", example=example))
        return out


def _split_hashes(text: str) -> list[tuple[str, bool]]:
    """``text`` cut into (piece, is_sha256) around the SHA-256 hashes it holds."""
    out, pos = [], 0
    for m in HASH.finditer(text):
        if m.start() > pos:
            out.append((text[pos:m.start()], False))
        out.append((m.group(), True))
        pos = m.end()
    if pos < len(text):
        out.append((text[pos:], False))
    return out or [(text, False)]


def _base_rtl(text: str) -> bool:
    for ch in text:
        kind = unicodedata.bidirectional(ch)
        if kind in _RTL_CLASSES:
            return True
        if kind == "L":
            return False
    return False


__all__ = ["CAN_SHAPE", "HASH", "LINE", "PT", "TextSetter"]
