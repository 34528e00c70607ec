"""The attributedBody decoder (commtrail/parsers/ios/typedstream.py)."""

import pytest
from commtrail.demo_ios import typedstream

from commtrail.parsers.ios.typedstream import decode_text, read_int


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
