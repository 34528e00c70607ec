"""The attributedBody decoder (commtrail/parsers/ios/typedstream.py)."""

import random

import pytest
from commtrail.demo_ios import typedstream

from commtrail.parsers.ios.typedstream import decode_text, decode_texts, read_int


@pytest.mark.parametrize("text", ["Please stop messaging me.", "", "See you all at 6 \U0001f37b",
                                  "Line one\nline two \ufffc", "x" * 127, "é" * 64, "long " * 300])
def test_round_trip(text):
    assert decode_text(typedstream(text)) == text


def test_a_cut_after_the_text_keeps_the_text():
    blob = typedstream("hello")
    assert decode_text(blob[:blob.find(b"hello") + 5]) == "hello"


def test_mutable_string_and_two_byte_length():
    blob = typedstream("a" * 200, mutable=True)
    assert b"NSMutableString" in blob and b"+\x81\xc8\x00" in blob
    assert decode_text(blob) == "a" * 200


@pytest.mark.parametrize("blob", [
    None, b"", b"bplist00\x00", b"\x04\x0bstreamtyped\x81\xe8\x03garbage",
    typedstream("hello")[:typedstream("hello").find(b"hello") + 3],  # cut inside the text
    typedstream("hello").replace(b"\x84\x01+\x05", b"\x84\x01+\x7f"),  # a length past the end
    typedstream("hello").replace(b"\x84\x01+", b"\x84\x01*"),         # not the bytes type
    typedstream("hello").replace(b"hello", b"he\xffl\xfe"),           # not UTF-8
    typedstream("hello").replace(b"\x84\x01+\x05", b"\x84\x01+\x85"),  # a tag, not a length
])
def test_undecodable_gives_none(blob):
    assert decode_text(blob) is None


def test_read_int_forms():
    assert read_int(b"\x05", 0) == (5, 1)
    assert read_int(b"\x81\x2c\x01", 0) == (300, 3)
    assert read_int(b"\x82\xa0\x86\x01\x00", 0) == (100_000, 5)
    assert read_int(b"\x81\x2c", 0) is None
    assert read_int(b"", 0) is None
    assert read_int(b"\xf0", 0) == (-16, 1)


def _mutated(rng, blob: bytes) -> bytes:
    """The blob with a few bytes changed, cut off, put in or added."""
    out = bytearray(blob)
    for _ in range(rng.randint(0, 3)):
        roll = rng.random()
        if roll < 0.3 and out:
            out[rng.randrange(len(out))] = rng.randrange(256)
        elif roll < 0.5 and out:
            del out[rng.randrange(len(out)):]
        elif roll < 0.7:
            out.insert(rng.randrange(len(out) + 1), rng.randrange(256))
        else:
            out.append(rng.randrange(256))
    return bytes(out)


def test_decode_texts_gives_what_decode_text_gives_for_every_blob():
    """The column-wise decoder equals decode_text on each blob: the usual archives, mutable strings,
    texts of 127 and 128 bytes, no UTF-8, and 1,500 archives with bytes changed, cut or put in."""
    rng = random.Random(20240315)
    letters = ["a", "é", "\U0001f642", "\n", "\x00", " "]
    blobs = [None, b"", b"\x04\x0bstreamtyped", typedstream("he\xffllo").replace("he\xffllo".encode(), b"he\xffllo")]
    for _ in range(1500):
        text = "".join(rng.choice(letters) for _ in range(rng.choice([0, 3, 20, 127, 128, 200])))
        blob = typedstream(text, mutable=rng.random() < 0.2)
        blobs.append(_mutated(rng, blob) if rng.random() < 0.5 else blob)
    expected = [None if blob is None else decode_text(blob) for blob in blobs]
    assert decode_texts(blobs) == expected
    assert sum(text is not None for text in expected) > 800   # most still decode: the fast path is taken
    assert decode_texts(["not a blob", None]) == [None, None]   # text, not bytes: one by one, no text
    assert decode_texts([None, None]) == [None, None]
