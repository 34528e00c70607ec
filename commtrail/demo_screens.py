"""Three screenshots of Jordan's WhatsApp chat for the sample case, drawn with Pillow in its bundled
font (fictional, deterministic). Each shows the last messages of the chat before it was taken,
with the phone's and the app's chrome around them; the second also shows one message that no
backup holds (Jordan deleted it before the export), so the report lists it as only in a screenshot.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from pathlib import Path

WIDTH, LINE, MARGIN = 720, 46, 24
ONLY_IN_SCREENSHOT = "I am watching you from the car park"
# (position among Jordan's messages after the block, messages shown, where the unsaved one goes)
SHOTS = ((6, 3, None), (20, 3, 2), (41, 4, None))


def _drawable(text: str) -> str:
    """The text as the sample draws it: characters outside the Basic Multilingual Plane (emoji) left
    out, as the bundled font has none (OCR would drop them too)."""
    return "".join(ch for ch in text if ord(ch) < 0x10000).strip()


def _picture(when: datetime, messages: list[tuple[datetime, str]]) -> bytes:
    """A chat screenshot: status bar, header, the first message's date, one bubble per message (time
    at its end), input bar."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=26)
    small = ImageFont.load_default(size=22)
    rows: list[tuple[str, str, ImageFont.FreeTypeFont]] = [
        ("status", f"{when:%H:%M}   4G   62%", small), ("header", "Jordan", font), ("header", "online", small),
        ("date", f"{messages[0][0]:%A}, {messages[0][0].day} {messages[0][0]:%B %Y}", small)]
    rows += [("bubble", f"{_drawable(text)}   {at:%H:%M}", font) for at, text in messages]
    rows += [("input", "Type a message", font)]
    image = Image.new("RGB", (WIDTH, MARGIN * 2 + LINE * len(rows) + 40), (236, 229, 221))
    draw = ImageDraw.Draw(image)
    y = MARGIN
    for kind, text, face in rows:
        if kind == "bubble":
            right = MARGIN + 20 + int(draw.textlength(text, font=face)) + 20
            draw.rounded_rectangle((MARGIN, y - 6, right, y + LINE - 12), 12, fill=(255, 255, 255))
            draw.text((MARGIN + 20, y), text, fill=(17, 17, 17), font=face)
        elif kind == "date":
            draw.text((WIDTH // 2 - int(draw.textlength(text, font=face)) // 2, y), text, fill=(80, 80, 80), font=face)
        else:
            draw.text((MARGIN, y), text, fill=(17, 17, 17) if kind != "input" else (120, 120, 120), font=face)
        y += LINE + (10 if kind in ("header", "date") else 0)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def write_screenshots(whatsapp: list[tuple[datetime, str, str]], blocked: datetime, folder: Path) -> list[Path]:
    """Write the three screenshots of Jordan's chat messages (when, author, text) after ``blocked``
    into ``folder``, named as Android names them; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    jordan = [(when, text) for when, author, text in whatsapp if author == "Jordan" and when >= blocked]
    paths = []
    for last, count, unsaved in SHOTS:
        shown = jordan[last - count + 1:last + 1]
        if unsaved is not None:
            shown.insert(unsaved, (shown[unsaved - 1][0] + timedelta(minutes=1), ONLY_IN_SCREENSHOT))
        when = shown[-1][0] + timedelta(minutes=3, seconds=12)
        path = folder / f"Screenshot_{when:%Y%m%d-%H%M%S}_WhatsApp.png"
        path.write_bytes(_picture(when, shown))
        paths.append(path)
    return paths
