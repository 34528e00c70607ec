"""What an evidence file is, told by its first bytes (never by its name).

Images: PNG, JPEG, WebP, HEIC/HEIF. Audio: Ogg (Opus, Vorbis), M4A, MP3, AMR, WAV. Video: MP4,
QuickTime (MOV), 3GP. Documents: PDF. An ISO media file (``....ftyp``) is told by its brand.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Format:
    """An evidence file format."""

    name: str       # png, jpeg, webp, heic, heif, ogg, opus, m4a, mp3, amr, wav, mp4, mov, 3gp, pdf
    mime: str
    family: str     # image, audio, video, document


# ISO base media brands (bytes 8-12 of ``....ftyp``) -> format.
_BRANDS: dict[bytes, Format] = {
    **{b: Format("heic", "image/heic", "image") for b in (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis")},
    **{b: Format("heif", "image/heif", "image") for b in (b"mif1", b"msf1")},
    **{b: Format("m4a", "audio/mp4", "audio") for b in (b"M4A ", b"M4B ", b"M4P ")},
    b"qt  ": Format("mov", "video/quicktime", "video"),
    **{b: Format("3gp", "video/3gpp", "video") for b in (b"3gp4", b"3gp5", b"3gp6", b"3gp7", b"3gs7", b"3ge6",
                                                           b"3ge7", b"3gg6", b"3g2a", b"3g2b", b"3g2c")},
    **{b: Format("mp4", "video/mp4", "video") for b in (b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"mp41",
                                                          b"mp42", b"avc1", b"M4V ", b"MSNV", b"dash", b"mmp4")},
}

_PNG = Format("png", "image/png", "image")
_JPEG = Format("jpeg", "image/jpeg", "image")
_WEBP = Format("webp", "image/webp", "image")
_WAV = Format("wav", "audio/wav", "audio")
_AMR = Format("amr", "audio/amr", "audio")
_MP3 = Format("mp3", "audio/mpeg", "audio")
_PDF = Format("pdf", "application/pdf", "document")

# MPEG-1/2/2.5 Layer III: bit rates (kbit/s) by version, sample rates (Hz) by version.
_MP3_RATES = {3: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
              2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)}
_MP3_SAMPLES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def identify(head: bytes) -> Format | None:
    """The format whose signature ``head`` (the file's first bytes) begins with, or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return _PNG
    if head.startswith(b"\xff\xd8\xff"):
        return _JPEG
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _WEBP
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return _WAV
    if head[4:8] == b"ftyp":
        return _BRANDS.get(head[8:12])
    if head.startswith(b"OggS"):
        return _ogg(head)
    if head.startswith((b"#!AMR\n", b"#!AMR-WB\n")):
        return _AMR
    if head.startswith(b"ID3") or _mp3_frames(head):
        return _MP3
    if head.startswith(b"%PDF-"):
        return _PDF
    return None


def _ogg(head: bytes) -> Format:
    """An Ogg stream by the codec of its first packet."""
    first = head[:512]
    if b"theora" in first:
        return Format("ogg", "video/ogg", "video")
    if b"OpusHead" in first:
        return Format("opus", "audio/ogg", "audio")
    return Format("ogg", "audio/ogg", "audio")


def _mp3_frame_length(head: bytes, at: int) -> int | None:
    """Length of the MPEG Layer III frame whose header starts at ``at``, or None if none does."""
    if at + 4 > len(head) or head[at] != 0xFF or head[at + 1] & 0xE0 != 0xE0:
        return None
    version, layer = (head[at + 1] >> 3) & 3, (head[at + 1] >> 1) & 3
    rate_index, sample_index, padding = head[at + 2] >> 4, (head[at + 2] >> 2) & 3, (head[at + 2] >> 1) & 1
    if version == 1 or layer != 1 or rate_index in (0, 15) or sample_index == 3:
        return None
    bitrate = _MP3_RATES[3 if version == 3 else 2][rate_index] * 1000
    samples = _MP3_SAMPLES[version][sample_index]
    return (144 if version == 3 else 72) * bitrate // samples + padding


def _mp3_frames(head: bytes) -> bool:
    """Two Layer III frame headers in a row from the first byte (one alone could be chance)."""
    first = _mp3_frame_length(head, 0)
    return first is not None and _mp3_frame_length(head, first) is not None
