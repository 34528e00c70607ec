"""Tiny evidence files made by the tests: images with EXIF (Pillow), a WAV (wave), a PDF by hand,
the first bytes of Opus, AMR, MP3, M4A and MP4 files (all a sniff and the parser need), and a case
with a chat and a screenshot of it (drawn, then read by OCR)."""

from __future__ import annotations

import io
import wave
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

EXIF_IFD = 0x8769


def exif(*, original: str | None = None, offset: str | None = None, subsec: str | None = None,
         make: str | None = None, software: str | None = None, comment: bytes | None = None) -> Image.Exif:
    """An EXIF block with the given fields."""
    block = Image.Exif()
    if make:
        block[0x010F] = make
    if software:
        block[0x0131] = software
    sub = block.get_ifd(EXIF_IFD)
    for tag, value in ((0x9003, original), (0x9011, offset), (0x9291, subsec), (0x9286, comment)):
        if value is not None:
            sub[tag] = value
    return block


def image(fmt: str, block: Image.Exif | None = None, size: tuple[int, int] = (4, 3)) -> bytes:
    """An image of ``fmt`` (PNG, JPEG, WEBP, HEIF) with an optional EXIF block."""
    if fmt == "HEIF":
        from pillow_heif import register_heif_opener
        register_heif_opener()
    out = io.BytesIO()
    kwargs = {"exif": block.tobytes()} if block is not None else {}
    Image.new("RGB", size, "white").save(out, fmt, **kwargs)
    return out.getvalue()


def text_image(lines: list[str], fmt: str = "PNG", block: Image.Exif | None = None) -> bytes:
    """Black text on white in Pillow's bundled font (Aileron), one line every 55 pixels."""
    picture = Image.new("RGB", (700, 40 + 55 * len(lines)), "white")
    draw = ImageDraw.Draw(picture)
    font = ImageFont.load_default(size=28)
    for i, line in enumerate(lines):
        draw.text((20, 20 + 55 * i), line, fill="black", font=font)
    out = io.BytesIO()
    picture.save(out, fmt, **({"exif": block.tobytes()} if block is not None else {}))
    return out.getvalue()


def wav(seconds: float = 0.01) -> bytes:
    """A silent mono 8 kHz WAV."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(8000)
        w.writeframes(b"\x80" * int(8000 * seconds))
    return out.getvalue()


def _ogg_crc(data: bytes) -> int:
    """The CRC-32 of an Ogg page (polynomial 0x04C11DB7, not reflected, initial value 0)."""
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


def _ogg_page(packet: bytes, flags: int, granule: int, sequence: int) -> bytes:
    """One Ogg page holding one packet shorter than 255 bytes (stream serial 1)."""
    header = b"OggS\x00" + bytes([flags]) + granule.to_bytes(8, "little") + (1).to_bytes(4, "little") + \
        sequence.to_bytes(4, "little") + b"\x00\x00\x00\x00" + bytes([1, len(packet)])
    crc = _ogg_crc(header + packet)
    return header[:22] + crc.to_bytes(4, "little") + header[26:] + packet


def ogg_opus(seconds: float, pre_skip: int = 312) -> bytes:
    """An Ogg Opus file of ``seconds`` (as its last granule position says) with one silent packet."""
    head = b"OpusHead\x01\x01" + pre_skip.to_bytes(2, "little") + (48000).to_bytes(4, "little") + b"\x00\x00\x00"
    tags = b"OpusTags" + (4).to_bytes(4, "little") + b"test" + (0).to_bytes(4, "little")
    return (_ogg_page(head, 2, 0, 0) + _ogg_page(tags, 0, 0, 1)
            + _ogg_page(b"\xf8\xff\xfe", 4, pre_skip + round(seconds * 48000), 2))


def amr(frames: int) -> bytes:
    """An AMR-NB file of ``frames`` 12.2 kbit/s frames of 20 ms (32 bytes each, header 0x3C)."""
    return b"#!AMR\n" + (b"\x3c" + b"\x00" * 31) * frames


def pdf() -> bytes:
    """A one-page PDF written by hand (cross-reference offsets computed)."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>"]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


# First bytes of audio and video files: enough for the signature, which is all the parser reads.
OPUS = b"OggS\x00\x02" + b"\x00" * 20 + b"\x01\x13OpusHead\x01\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00"
AMR = b"#!AMR\n" + b"\x3c" + b"\x00" * 31
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" + b"\x00" * 413
M4A = b"\x00\x00\x00\x18ftypM4A \x00\x00\x02\x00isomM4A " + b"\x00\x00\x00\x08free"
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00\x00\x00\x08free"


# Jordan's chat: the screenshot of 15 March 21:30 shows the last three messages (one wraps, one
# has an emoji OCR cannot read) and one more that no backup holds. The same words as that one were
# sent in January, outside the 30-day window, so they do not count; "ok" is in the window but not
# on the screen.
CHAT = """\
20/01/2024, 10:00 - Jordan: you saw my car outside
15/03/2024, 20:55 - Jordan: ok
15/03/2024, 21:02 - Jordan: where are you tonight \U0001F621
15/03/2024, 21:03 - Jordan: I know you are not at your mum's house
15/03/2024, 21:07 - Jordan: answer me or I come round
"""
SCREEN = ["09:41 4G 87%", "Jordan", "online", "Today",
          "where are you tonight 21:02",
          "I know you are not at your", "mum's house 21:03",
          "you saw my car outside 21:05",
          "answer me or I come round 21:07",
          "Type a message"]
SHOT = "Screenshot_20240315-213000_WhatsApp.png"


def screenshot_case(root: Path) -> Path:
    """A case (ingested through the CLI) of Jordan's chat and a screenshot of it: see CHAT."""
    from conftest import new_case

    from commtrail.cli import main
    folder = root / "phone"
    folder.mkdir()
    (folder / "WhatsApp Chat with Jordan.txt").write_text(CHAT, encoding="utf-8")
    (folder / SHOT).write_bytes(text_image(SCREEN))
    case = new_case(root / "case")
    assert main(["ingest", str(case), str(folder)]) == 0
    return case
