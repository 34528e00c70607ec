"""The byte-stream repair in front of the XML parser (commtrail/parsers/smsbr/xmlrepair.py)."""

from __future__ import annotations

import io
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from commtrail.parsers.smsbr.xmlrepair import RepairReader, repair_bytes

FFFD = "\ufffd".encode()


class Trickle:
    """A stream that returns at most the given numbers of bytes per read, in turn (1 by default)."""

    def __init__(self, data: bytes, sizes=(1,)) -> None:
        self._data = io.BytesIO(data)
        self._sizes = list(sizes) or [1]
        self._i = 0

    def read(self, n: int = -1) -> bytes:
        size = self._sizes[self._i % len(self._sizes)]
        self._i += 1
        return self._data.read(max(1, min(size, n if n and n > 0 else size)))


def read_all(reader: RepairReader, size: int = 7) -> bytes:
    out = []
    while chunk := reader.read(size):
        out.append(chunk)
    return b"".join(out)


@pytest.mark.parametrize("raw, repaired, count", [
    # A surrogate pair becomes one reference; the references before it stay as they are.
    (b"&#10;&#55357;&#56832;", b"&#10;&#128512;", 1),
    (b"&#65039;&#55357;&#56832;", b"&#65039;&#128512;", 1),
    (b"&#55357;&#56832;&#55357;&#56832;", b"&#128512;&#128512;", 2),
    (b"&#xD83D;&#xde00;", b"&#128512;", 1),
    (b"&#55357;&#xDE00;", b"&#128512;", 1),
    (b"&#00055357;&#056832;", b"&#128512;", 1),
    # Lone halves.
    (b"&#55357;&#55357;&#56832;", b"&#65533;&#128512;", 2),
    (b"a&#56832;b", b"a&#65533;b", 1),
    (b"&#55357;a", b"&#65533;a", 1),
    (b"x&#55357;", b"x&#65533;", 1),
    (b"&#55357; &#56832;", b"&#65533; &#65533;", 2),
    (b"&#56832;&#55357;", b"&#65533;&#65533;", 2),
    # Characters XML 1.0 forbids.
    (b"&#0;&#27;&#x1B;&#11;&#x0c;", b"&#65533;" * 5, 5),
    (b"&#65534;&#xFFFF;&#1114112;&#x110000;", b"&#65533;" * 4, 4),
    # Allowed references are left alone, and so is what is not a character reference.
    (b"&#9;&#10;&#13;&#32;&#xD7FF;&#xE000;&#65533;&#1114111;&#x10FFFF;", None, 0),
    (b"&amp;#55357; &#x; &#; &#abc; &#X41;", None, 0),
    (b"&#0000000000055357;&#56832;", b"&#0000000000055357;&#65533;", 1),  # over 12 digits: not ours
    # Raw bytes XML forbids; tab, LF and CR are fine.
    (b"a\x00b\x1b\x1bc\t\r\n", b"a" + FFFD + b"b" + FFFD * 2 + b"c\t\r\n", 3),
    # Bytes that are not UTF-8; surrogates written as 3 bytes each (CESU-8); U+FFFE.
    (b"caf\xe9 ok", b"caf" + FFFD + b" ok", 1),
    (b"\xed\xa0\xbd\xed\xb8\x80", "\U0001F600".encode(), 1),
    (b"\xed\xa0\xbdx", FFFD + b"x", 1),
    (b"a\xc0\x80b", b"a" + FFFD + b"b", 1),
    (b"\xef\xbf\xbe", FFFD, 1),
    ("é 😀 ‘quoted’".encode(), None, 0),
])
def test_repairs(raw, repaired, count):
    out, repairs = repair_bytes(raw)
    assert out == (raw if repaired is None else repaired)
    assert repairs == count


def test_one_byte_reads_give_the_same_bytes():
    sample = (b"<?xml version='1.0' encoding='UTF-8'?>\n<smses count=\"2\">"
              b"<sms body=\"&#10;&#55357;&#56832;&#65039;&#55357;&#56832;&#0;\x1b caf\xe9 \xed\xa0\xbd\xed\xb8\x80\"/>\n"
              b"<!-- <sms body=\"&#0;\"/> -->\n<sms body=\"&#55357;\"/></smses>\n")
    whole = RepairReader(io.BytesIO(sample))
    expected = whole.read()
    trickled = RepairReader(Trickle(sample))
    assert read_all(trickled, 1) == expected
    assert (trickled.repairs, trickled.repairs_by_record, trickled.record_starts, trickled.record_lines) == \
        (whole.repairs, whole.repairs_by_record, whole.record_starts, whole.record_lines) == \
        (8, {1: 7, 2: 1}, 2, [2, 4])
    # The repaired document is well-formed XML.
    root = etree.fromstring(expected)
    assert root[0].get("body") == "\n😀\ufe0f😀\ufffd\ufffd café 😀".replace("é", "\ufffd")


def test_repairs_are_counted_per_record_outside_comments():
    data = (b'<smses>\n<sms a="&#0;"/>\n<!-- <sms a="&#0;"/> -->\n<sms a="ok"/>\n'
            b'<?pi <mms ?>\n<mms b="&#55357;&#55357;&#56832;"/>\n<![CDATA[<call ]]>\n<call c="\x1b"/>\n</smses>')
    reader = RepairReader(io.BytesIO(data))
    reader.read()
    assert reader.record_starts == 4
    assert reader.record_lines == [2, 4, 6, 8]
    assert reader.repairs == 5
    assert reader.repairs_by_record == {1: 2, 3: 2, 4: 1}  # the comment's repair is counted with record 1


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_is_transcoded(encoding):
    text = '<?xml version="1.0" encoding="UTF-16"?>\n<smses><sms body="é😀 &#55357;&#56832;"/></smses>'
    reader = RepairReader(Trickle(text.encode(encoding), (3, 5)))
    out = read_all(reader)
    assert out.decode("utf-8").lstrip("\ufeff") == text.replace("&#55357;&#56832;", "&#128512;")
    assert reader.repairs == 1
    assert reader.encoding in ("utf-16-le", "utf-16-be")
    assert reader.notes == []


def test_utf16_lone_surrogate_code_unit_is_replaced():
    data = codecs_utf16le('<smses><sms body="a') + b"\x3d\xd8" + codecs_utf16le('b"/></smses>')
    out, repairs = repair_bytes(b"\xff\xfe" + data)
    assert out.decode("utf-8") == '\ufeff<smses><sms body="a\ufffdb"/></smses>'
    assert repairs == 1


def codecs_utf16le(text: str) -> bytes:
    return text.encode("utf-16-le")


def test_declared_8bit_encoding_is_transcoded():
    data = b'<?xml version="1.0" encoding="ISO-8859-1"?>\n<smses><sms body="caf\xe9"/></smses>'
    reader = RepairReader(io.BytesIO(data))
    out = reader.read()
    assert 'body="café"'.encode() in out
    assert reader.repairs == 0
    assert reader.notes == ["the file is encoded as iso8859-1; transcoded to UTF-8"]


def test_declared_utf16_but_8bit_is_read_as_utf8():
    reader = RepairReader(io.BytesIO(b'<?xml version="1.0" encoding="UTF-16"?><smses/>'))
    assert reader.read() == b'<?xml version="1.0" encoding="UTF-16"?><smses/>'
    assert reader.notes == ["the XML declaration says 'utf-16' but the bytes are 8-bit; read as UTF-8"]


def test_doctype_is_noticed():
    reader = RepairReader(io.BytesIO(b'<?xml version="1.0"?>\n<!DOCTYPE smses [<!ENTITY a "<sms ">]>\n<smses/>'))
    reader.read()
    assert reader.has_doctype
    assert reader.record_starts == 0


def test_tail_of_a_truncated_file():
    data = b'<smses>\n<sms a="1"/>\n<mms b="&#55357;&#56832;"><parts><part data="AAAA'
    reader = RepairReader(Trickle(data, (4,)))
    read_all(reader)
    text, size, offset = reader.tail()
    assert text == '<mms b="&#128512;"><parts><part data="AAAA'
    assert size == len(text)
    assert offset == len(b'<smses>\n<sms a="1"/>\n')


TOKENS = [b"&#55357;", b"&#56832;", b"&#xD83D;", b"&#xDE00;", b"&#10;", b"&#65039;", b"&#0;", b"&#27;",
          b"&#x1F600;", b"&amp;", b"&", b"&#", b"&#5", b"&#x", b"x", b" ", b"\n", b'"', b"<sms ", b"<mms>",
          b"<call/", b"<smses ", b"<calls>", b"<!-- ", b" -->", b"<![CDATA[", b"]]>", b"<?p ", b"?>",
          b"\x00", b"\x1b", b"\xe9", b"\xc3\xa9", b"\xf0\x9f\x98\x80", b"\xed\xa0\xbd", b"\xed\xb8\x80",
          b"\xc0\x80", b"\xef\xbf\xbe", b"\xe2\x82", b";"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(TOKENS), st.binary(max_size=3)), max_size=120),
       st.lists(st.integers(min_value=1, max_value=17), min_size=1, max_size=8))
def test_split_reads_give_the_same_result(tokens, sizes):
    data = b"".join(tokens)
    whole = RepairReader(io.BytesIO(data))
    expected = whole.read()
    split = RepairReader(Trickle(data, sizes), block_size=max(sizes))
    assert read_all(split, 5) == expected
    assert split.repairs == whole.repairs
    assert split.repairs_by_record == whole.repairs_by_record
    assert split.record_starts == whole.record_starts
    assert split.record_lines == whole.record_lines


_TAG_OR_SPECIAL = re.compile(rb"<(?:(?:sms|mms|call)[ \t\r\n/>]|[!?])")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"<sms ", b"<sms/", b"<smsx", b"<mms>", b"<call\n", b"<cal", b"<calls", b"<!--",
                                 b"<?x", b"<", b"sms", b" ", b"\n", b"a", b"<m", b"<c"]), max_size=30))
def test_tag_starts_match_the_pattern_they_replace(pieces):
    import numpy as np
    from commtrail.parsers.smsbr.xmlrepair import tag_starts
    data = b"".join(pieces)
    found, special = tag_starts(np.frombuffer(data, dtype=np.uint8))
    expected = [m.start() for m in _TAG_OR_SPECIAL.finditer(data)]
    assert found.tolist() == expected
    assert special == any(data[i + 1:i + 2] in (b"!", b"?") for i in expected)
