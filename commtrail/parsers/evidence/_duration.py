"""How long a recording or video is, read from the file: AMR by counting its frames (20 ms each),
everything else with tinytag (Ogg Opus/Vorbis, MP3, M4A/MP4/MOV, WAV).

tinytag (MIT) is used rather than mutagen, whose GPL-2.0-or-later licence an MIT project should
not take on as a required dependency; ffprobe is not assumed to be installed.
"""

from __future__ import annotations

from typing import BinaryIO

from commtrail.parsers.evidence._formats import Format

# Speech bytes after the one-byte frame header, by frame type (RFC 4867 section 5.3; 15 = no data).
_AMR_NB = (12, 13, 15, 17, 19, 20, 26, 31, 5, 6, 5, 5, None, None, None, 0)
_AMR_WB = (17, 23, 32, 36, 40, 46, 50, 58, 60, 5, None, None, None, None, 0, 0)
_AMR_FRAME_S = 0.02
_CHUNK = 1 << 20


def duration(stream: BinaryIO, fmt: Format) -> float | None:
    """Seconds of sound or film in ``stream`` (seekable, at any position), or None when the file does
    not say (a damaged or cut file)."""
    stream.seek(0)
    if fmt.name == "amr":
        return _amr(stream)
    from tinytag import TinyTag, TinyTagException

    try:
        seconds = TinyTag.get(file_obj=stream, tags=False, duration=True).duration
    except (TinyTagException, OSError, ValueError, KeyError, IndexError, EOFError):
        return None
    return seconds if seconds else None


def _amr(stream: BinaryIO) -> float | None:
    """AMR-NB or AMR-WB single-channel storage format: frames counted; None if a frame type is invalid
    or the last frame is cut."""
    magic = stream.read(9)
    if magic.startswith(b"#!AMR-WB\n"):
        sizes = _AMR_WB
    elif magic.startswith(b"#!AMR\n"):
        sizes = _AMR_NB
        stream.seek(6)
    else:
        return None
    frames, data = 0, b""
    while chunk := stream.read(_CHUNK):
        data += chunk
        at = 0
        while at < len(data):
            size = sizes[(data[at] >> 3) & 0x0F]
            if size is None:
                return None
            if at + 1 + size > len(data):
                break
            at += 1 + size
            frames += 1
        data = data[at:]
    if data:   # the last frame is cut
        return None
    return round(frames * _AMR_FRAME_S, 3) if frames else None
