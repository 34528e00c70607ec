"""SMS Backup & Restore parsers (commtrail/parsers/smsbr/backup.py): smsbr-sms and smsbr-calls."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
import zipfile

import pytest
from conftest import FIXTURES, make_ctx, run_parser
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from commtrail.parsers import registry
from commtrail.parsers.base import Owner, collect
from commtrail.timeline.schema import dumps_extra

OWNER = Owner(name="Sam", phones=frozenset({"+447700900999"}))
GIF = base64.b64decode("R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")
GIF_SHA = "b1442e85b03bdcaf66dc58c7abb98745dd2687d86350be9a298a1d9382ac849b"
SMSBR = FIXTURES / "smsbr"


def parse(tmp_path, name: str, data: bytes, **overrides):
    overrides.setdefault("timezone", "Europe/London")
    overrides.setdefault("owner", OWNER)
    ctx = make_ctx(tmp_path, **overrides)
    table, rejects, report = run_parser(name, data, ctx)
    rows = table.to_pylist()
    for row in rows:
        row["ts_utc"] = row["ts_utc"].isoformat()
    return rows, rejects, report


def sms_file(*records: str, count: int | None = None) -> bytes:
    head = f'<smses count="{len(records) if count is None else count}">\n'
    return ("<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>\n" + head
            + "\n".join(records) + "\n</smses>\n").encode()


def brief(row: dict) -> dict:
    """A row without the columns every row of a source shares."""
    return {k: v for k, v in row.items()
            if k not in ("source_sha256", "source_path", "parser", "event_id", "party", "ts_precision", "tz_source")}


# -- sniffing -----------------------------------------------------------------------------------

@pytest.mark.parametrize("head, sms, calls", [
    (b"<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>\n<!--File Created By SMS Backup & Restore "
     b"v10.20.002-->\n<?xml-stylesheet type=\"text/xsl\" href=\"sms.xsl\"?>\n<smses count=\"3\">", True, False),
    (b"\xef\xbb\xbf<smses>", True, False),
    (b"  \n<smses/>", True, False),
    ("<?xml version='1.0' encoding='UTF-16'?>\n<calls count='1'>".encode("utf-16"), False, True),
    ("<calls count='1'>".encode("utf-16-be"), False, True),
    (b"<?xml version='1.0'?>\n<?xml-stylesheet type=\"text/xsl\" href=\"calls.xsl\"?>\n<calls count=\"9\">",
     False, True),
    (b"<!DOCTYPE html><html><head><title>Placed call</title></head><body>", False, False),
    (b"<?xml version='1.0'?>\n<!DOCTYPE smses [<!ENTITY a 'b'>]>\n<smses>", False, False),
    (b"<smsesx count='1'>", False, False),
    (b"<?xml version='1.0'?><feed><sms/></feed>", False, False),
    (b"", False, False),
    (b'{"messages": []}', False, False),
    (b"01/03/2024, 18:30 - Jordan: <smses>", False, False),
])
def test_sniff(head, sms, calls):
    assert registry.get("smsbr-sms").sniff(head, "x.xml") is sms
    assert registry.get("smsbr-calls").sniff(head, "x.xml") is calls


def test_registered_and_sniffed_by_content():
    assert registry.get("smsbr-sms").label == "smsbr-sms/2"
    assert registry.get("smsbr-calls").label == "smsbr-calls/2"
    assert registry.sniff((SMSBR / "calls.xml").read_bytes()[:65536], "backup.xml").name == "smsbr-calls"
    assert registry.sniff((SMSBR / "sms-repairs.xml").read_bytes()[:65536], "anything").name == "smsbr-sms"


# -- <sms> ----------------------------------------------------------------------------------------

def test_sms_repairs_types_and_rejects(tmp_path):
    rows, rejects, report = parse(tmp_path, "smsbr-sms", (SMSBR / "sms-repairs.xml").read_bytes())
    assert (len(rows), len(rejects), report.repairs, report.warnings, report.declared_count) == (12, 2, 12, [], 14)
    first = brief(rows[0])
    assert json.loads(first.pop("extra")) == {
        "address": "+447700900123", "contact_name": "Jordan", "date_sent": "1709317804000", "locked": "0",
        "protocol": "0", "read": "1", "readable_date": "1 Mar 2024 18:30:05", "sc_toa": None,
        "service_center": "+447700900000", "status": "-1", "sub_id": "1", "subject": None, "toa": None,
        "type": "1"}
    assert first == {
        "ts_utc": "2024-03-01T18:30:05.123000+00:00", "ts_local": "2024-03-01T18:30:05.123",
        "channel": "sms", "kind": "message", "direction": "incoming", "sender": "+447700900123",
        "sender_raw": "+447700900123", "recipients": ["+447700900999"], "conversation": "+447700900123",
        "subject": None, "body": "Stop texting me\n\U0001F600", "duration_s": None, "attachments": None,
        "flags": ["repaired_chars"], "locator": "sms #1, line 5"}
    # `&#65039;` then a pair; a hex pair; a decimal high half with a hex low half.
    assert rows[1]["body"] == "Fine\ufe0f\U0001F600 \U0001F621\U0001F600"
    assert (rows[1]["direction"], rows[1]["sender"], rows[1]["sender_raw"], rows[1]["recipients"]) == \
        ("outgoing", "+447700900999", None, ["+447700900123"])
    assert rows[2]["body"] == "lone \ufffd high, lone \ufffd low, \ufffd\U0001F600 twice"
    assert rows[3]["body"] == "nul\ufffdesc\ufffdraw\ufffdend"  # &#0; &#27; and a raw 0x1B byte
    assert [(r["body"], r["direction"], r["flags"]) for r in rows[4:9]] == [
        ("null", "outgoing", ["draft", "null_text"]),  # a body written as "null" stays "null"
        ("outbox", "outgoing", ["outbox"]),
        ("failed", "outgoing", ["failed"]),
        ("queued", "outgoing", ["queued"]),
        ("odd type", "unknown", ["unknown_type"]),
    ]
    # The day the clocks went forward: 01:00:05 UTC is 02:00:05 BST.
    assert (rows[4]["ts_utc"], rows[4]["ts_local"]) == ("2024-03-31T01:00:05+00:00", "2024-03-31T02:00:05.000")
    assert [(r["sender"], r["conversation"]) for r in rows[9:11]] == [("alpha:VERIFY", "alpha:VERIFY"),
                                                                       ("short:88888", "short:88888")]
    assert json.loads(rows[9]["extra"])["contact_name"] is None  # "(Unknown)" is a label, not a name
    assert rows[10]["body"] == "Offer: reply STOP to opt out & <save>"
    assert rows[11]["locator"] == "sms #14, line 18"
    assert json.loads(rows[11]["extra"])["contact_name"] == 'Sam "work"'
    assert [(r.locator, r.reason) for r in rejects] == [
        ("sms #12, line 16", "no date attribute (the raw text shows 1 repaired character references)"),
        ("sms #13, line 17", "date 'yesterday' is not a number of milliseconds")]
    assert rejects[1].raw == ('<sms protocol="0" address="+447700900123" date="yesterday" type="1" '
                              'subject="null" body="bad date" toa="null" read="1" contact_name="Jordan"/>')


def test_one_byte_reads_and_tiny_batches_give_the_same_table(tmp_path):
    data = (SMSBR / "sms-repairs.xml").read_bytes() + b""
    ctx = make_ctx(tmp_path, timezone="Europe/London", owner=OWNER, batch_size=3, parser_label="smsbr-sms/2")

    class OneByte(io.RawIOBase):
        def __init__(self, raw: bytes) -> None:
            self._raw = io.BytesIO(raw)

        def read(self, n: int = -1) -> bytes:
            return self._raw.read(1)

    table, rejects = collect(registry.get("smsbr-sms").parse(OneByte(data), ctx), ctx)
    expected, expected_rejects, _ = run_parser("smsbr-sms", data, make_ctx(tmp_path / "b", timezone="Europe/London",
                                                                            owner=OWNER))
    assert table.to_pylist() == expected.to_pylist()
    assert rejects == expected_rejects
    assert ctx.report.repairs == 12


def test_sms_without_owner(tmp_path):
    rows, _, _ = parse(tmp_path, "smsbr-sms", sms_file(
        '<sms address="07700 900123" date="1709317805123" type="1" body="in"/>',
        '<sms address="07700 900123" date="1709317806123" type="2" body="out"/>'), owner=Owner())
    assert [(r["sender"], r["recipients"], r["direction"]) for r in rows] == [
        ("+447700900123", None, "incoming"), (None, ["+447700900123"], "outgoing")]


def test_null_metadata_and_declared_count(tmp_path):
    rows, rejects, report = parse(tmp_path, "smsbr-sms", sms_file(
        '<sms protocol="0" address="null" date="1709317805123" type="1" subject="null" body="" toa="null" '
        'contact_name="null" readable_date="whatever the phone wrote"/>', count=5))
    assert (len(rows), len(rejects), report.declared_count) == (1, 0, 5)
    assert report.warnings == ["the root element declares count=5 but the file holds 1 records (1 read, 0 rejected)"]
    row = rows[0]
    assert (row["sender"], row["sender_raw"], row["conversation"], row["body"], row["subject"]) == \
        ("withheld", "null", None, "", None)
    assert row["extra"] == ('{"address":null,"contact_name":null,"protocol":"0",'
                            '"readable_date":"whatever the phone wrote","subject":null,"toa":null,"type":"1"}')


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(
    st.sampled_from(["protocol", "address", "type", "subject", "toa", "status", "readable_date",
                     "contact_name", "service_center", "x_extra"]),
    st.one_of(st.sampled_from(["null", "(Unknown)", "", "1", "a & b", 'say "hi"', "back\\slash",
                               "tab\there", "line\nfeed", "é😀", "&#38;", "}{\"", ':"null"']),
              st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)),
    min_size=1))
def test_extra_is_what_dumps_extra_writes(attrs):
    """Whatever the values, `extra` is the JSON dumps_extra writes of the attributes."""
    attrs = {k: "".join(c for c in v if c in "\t\n\r" or c >= " ") for k, v in attrs.items()}
    el = etree.Element("sms", date="1709317805123", body="b")
    for key, value in attrs.items():
        el.set(key, value)
    xml = sms_file(etree.tostring(el, encoding="unicode"))
    import tempfile
    from pathlib import Path
    with tempfile.TemporaryDirectory() as tmp:
        rows, rejects, _ = parse(Path(tmp), "smsbr-sms", xml)
    expected = {k: None if v == "null" or (k == "contact_name" and v == "(Unknown)") else v
                for k, v in attrs.items()}
    assert rejects == []
    assert rows[0]["extra"] == dumps_extra(expected)


# -- <mms> ----------------------------------------------------------------------------------------

def test_mms(tmp_path):
    rows, rejects, report = parse(tmp_path, "smsbr-sms", (SMSBR / "sms-mms.xml").read_bytes())
    assert (len(rows), len(rejects), report.repairs, report.declared_count) == (7, 1, 2, 8)
    assert report.warnings == ["1 MMS media parts are not valid base64: their text was kept as a blob and the "
                               "message flagged attachment_undecodable: mms #6 part broken.jpg: characters "
                               "outside the base64 alphabet"]
    received = brief(rows[0])
    extra = json.loads(received.pop("extra"))
    assert received == {
        "ts_utc": "2024-03-02T17:20:00+00:00", "ts_local": "2024-03-02T17:20:00.000", "channel": "mms",
        "kind": "message", "direction": "incoming", "sender": "+447700900123", "sender_raw": "+447700900123",
        "recipients": ["+447700900999"], "conversation": "+447700900123", "subject": None,
        "body": "Look what I found \U0001F600", "duration_s": None,
        "attachments": [{"name": "image000000.gif", "mime": "image/gif", "size": 43, "sha256": GIF_SHA}],
        "flags": ["repaired_chars"], "locator": "mms #1, line 4"}
    assert (tmp_path / "blobs" / GIF_SHA).read_bytes() == GIF
    assert hashlib.sha256(GIF).hexdigest() == GIF_SHA
    assert extra["date_sent"] == "1709399998"  # seconds, kept as written
    assert extra["addrs"] == [{"address": "+447700900123", "charset": "106", "type": "137"},
                              {"address": "+447700900999", "charset": "106", "type": "151"}]
    assert [p["ct"] for p in extra["parts"]] == ["application/smil", "image/gif", "text/plain"]
    assert extra["parts"][1]["data"] == "sha256:" + GIF_SHA

    sent = rows[1]
    assert (sent["direction"], sent["sender"], sent["sender_raw"], sent["recipients"], sent["conversation"],
            sent["subject"], sent["body"], sent["flags"]) == (
        "outgoing", "+447700900999", "insert-address-token", ["+447700900123", "+447700900456", "+447700900789"],
        "+447700900123~+447700900456~+447700900789", "Plans", "Meeting at 6?", None)
    group = rows[2]  # received in a group: the cc copy of the sender is not a recipient
    assert (group["sender"], group["recipients"], group["conversation"], group["body"]) == (
        "+447700900456", ["+447700900123", "+447700900999", "+447700900789"],
        "+447700900123~+447700900456~+447700900789", "Not me \U0001F642\nsecond part")
    assert (rows[3]["channel"], rows[3]["locator"]) == ("sms", "sms #4, line 39")
    assert (rows[4]["flags"], rows[4]["body"], rows[4]["attachments"]) == (["not_downloaded"], None, None)
    mixed = rows[5]
    assert mixed["flags"] == ["attachment_undecodable"]
    assert mixed["recipients"] == ["+447700900999"]  # insert-address-token as a recipient: the owner
    vcard = "BEGIN:VCARD\nVERSION:2.1\nFN:Alex Example\nTEL:+447700900456\nEND:VCARD".encode()
    assert mixed["attachments"] == [
        {"name": "Alex.vcf", "mime": "text/x-vCard", "size": len(vcard), "sha256": hashlib.sha256(vcard).hexdigest()},
        {"name": "wrapped.gif", "mime": "image/gif", "size": 43, "sha256": GIF_SHA}]  # line-wrapped base64
    broken = json.loads(mixed["extra"])["parts"][1]
    assert broken["undecodable"] == "characters outside the base64 alphabet"
    assert (tmp_path / "blobs" / broken["data"][7:]).read_bytes() == b"not base64 at all!"
    assert (rows[6]["flags"], rows[6]["direction"], rows[6]["sender"]) == (["draft"], "outgoing", "+447700900999")
    assert rejects[0].locator == "mms #8, line 68"
    assert rejects[0].reason == "no date attribute"
    assert f'data="[60 base64 characters, stored as blob {GIF_SHA}]"' in rejects[0].raw


def test_mms_without_owner_and_without_msg_box(tmp_path):
    rows, _, _ = parse(tmp_path, "smsbr-sms", sms_file(
        '<mms date="1709400060000" msg_box="2" address="+447700900123"><parts>'
        '<part seq="0" ct="text/plain" text="hi"/></parts><addrs>'
        '<addr address="insert-address-token" type="137"/><addr address="+447700900123" type="151"/></addrs></mms>',
        '<mms date="1709400061000" address="+447700900123"><parts/><addrs>'
        '<addr address="+447700900124" type="137"/><addr address="+447700900123" type="151"/></addrs></mms>',
        '<mms date="1709400062000" m_type="132" address="+447700900123"><parts/><addrs/></mms>'), owner=Owner())
    assert [(r["direction"], r["sender"], r["recipients"], r["flags"]) for r in rows] == [
        ("outgoing", "owner", ["+447700900123"], None),
        ("unknown", "+447700900124", ["+447700900123"], None),
        ("incoming", "+447700900123", None, ["direction_inferred"])]


def test_records_stay_in_file_order_across_chunks(tmp_path):
    records = []
    for i in range(40):
        if i % 7 == 3:
            records.append(f'<mms date="{1709400000000 + i}" msg_box="1" address="+447700900123"><parts>'
                           f'<part seq="0" ct="text/plain" text="m{i}"/></parts><addrs/></mms>')
        else:
            records.append(f'<sms address="+447700900123" date="{1709400000000 + i}" type="1" body="s{i}"/>')
    rows, rejects, _ = parse(tmp_path, "smsbr-sms", sms_file(*records), batch_size=6)
    assert [r["locator"].split(",")[0] for r in rows] == [
        f"{'mms' if i % 7 == 3 else 'sms'} #{i + 1}" for i in range(40)]
    assert [r["body"] for r in rows] == [("m" if i % 7 == 3 else "s") + str(i) for i in range(40)]


def test_unexpected_elements_are_kept(tmp_path):
    rows, rejects, _ = parse(tmp_path, "smsbr-sms", sms_file(
        '<sms address="+447700900123" date="1709317805123" type="1" body="a"><note x="1"/></sms>',
        '<backup_note text="kept"/>',
        '<mms date="1709400060000" msg_box="1" address="+447700900123"><parts/><addrs/><extra_bit a="b"/></mms>'))
    assert len(rows) == 2
    assert json.loads(rows[0]["extra"])["other_xml"] == '<note x="1"/>'
    assert json.loads(rows[1]["extra"])["other_xml"] == ['<extra_bit a="b"/>']
    assert [(r.locator, r.reason, r.raw) for r in rejects] == [
        ("after record #1", "unexpected element <backup_note> in the backup", '<backup_note text="kept"/>')]


# -- <call> ---------------------------------------------------------------------------------------

def test_calls(tmp_path):
    rows, rejects, report = parse(tmp_path, "smsbr-calls", (SMSBR / "calls.xml").read_bytes())
    assert (len(rows), len(rejects), report.repairs, report.warnings, report.declared_count) == (10, 1, 0, [], 11)
    first = brief(rows[0])
    assert json.loads(first.pop("extra")) == {
        "contact_name": "Jordan", "duration": "65", "number": "07700 900123", "post_dial_digits": "",
        "presentation": "1", "readable_date": "1 Mar 2024 18:30:05", "subscription_component_name":
        "com.android.phone/com.android.services.telephony.TelephonyConnectionService", "subscription_id": "1",
        "type": "1"}
    assert first == {
        "ts_utc": "2024-03-01T18:30:05.123000+00:00", "ts_local": "2024-03-01T18:30:05.123", "channel": "call",
        "kind": "incoming", "direction": "incoming", "sender": "+447700900123", "sender_raw": "07700 900123",
        "recipients": ["+447700900999"], "conversation": "+447700900123", "subject": None, "body": None,
        "duration_s": 65, "attachments": None, "flags": None, "locator": "call #1, line 5"}
    assert [(r["kind"], r["direction"], r["sender"], r["recipients"], r["duration_s"]) for r in rows[1:]] == [
        ("outgoing", "outgoing", "+447700900999", ["+447700900123"], 12),
        ("missed", "incoming", "withheld", ["+447700900999"], 0),  # presentation 2
        ("voicemail", "incoming", "unknown", ["+447700900999"], 31),  # presentation 3
        ("rejected", "incoming", "payphone", ["+447700900999"], 0),  # presentation 4
        ("blocked", "incoming", "withheld", ["+447700900999"], 0),  # number -2
        ("answered_elsewhere", "incoming", "+12025550143", ["+447700900999"], 240),
        ("type_10", "unknown", "+447700900123", None, 5),
        ("missed", "incoming", "withheld", ["+447700900999"], 0),  # empty number, no presentation
        ("missed", "incoming", "+447700900123", ["+447700900999"], None),  # duration "abc": kept in extra
    ]
    assert json.loads(rows[9]["extra"])["duration"] == "abc"
    assert [(r.locator, r.reason) for r in rejects] == [("call #11, line 15", "date '' is not a number of milliseconds")]



def test_a_reject_whose_attributes_lxml_will_not_write_keeps_them_as_they_came(tmp_path):
    """A call with an attribute named ``duratio:`` (a flipped byte; the fast reader takes any name)
    and no date is a reject; writing its raw text stopped the parse with lxml's ValueError (found by
    the fuzzer). Now the element is written as it came, escaped as lxml escapes."""
    data = ("<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>\n<calls count=\"2\">\n"
            '<call number="07700 900123" duration="65" date="1709317805123" type="1" />\n'
            '<call number="a&amp;b" duratio:="1" date="" type="1" />\n</calls>\n').encode()
    rows, rejects, _ = parse(tmp_path, "smsbr-calls", data)
    assert [r["duration_s"] for r in rows] == [65]
    assert [(r.locator, r.raw) for r in rejects] == [
        ("call #2, line 4", '<call number="a&amp;b" duratio:="1" date="" type="1"/>')]

# -- broken files -----------------------------------------------------------------------------------

def test_truncated_file(tmp_path):
    rows, rejects, report = parse(tmp_path, "smsbr-sms", (SMSBR / "sms-truncated.xml").read_bytes())
    assert (len(rows), len(rejects), report.repairs, report.declared_count) == (3, 1, 1, 10)
    assert [r["body"] for r in rows] == ["one", "two \U0001F600", "three"]
    assert report.warnings == [
        "the file is truncated: it ends in the middle of an element at byte 746, line 7 (AttValue: ' expected); "
        "every complete record before it was kept; the root element declares count=10, 3 records found before "
        "the error (7 fewer); the incomplete last record was rejected with its text"]
    assert (rejects[0].locator, rejects[0].reason) == ("sms #4, line 7",
                                                       "incomplete record: the file ends inside it (truncated backup)")
    assert rejects[0].raw == ('<sms protocol="0" address="+447700900123" date="1709317808123" type="1" '
                              'subject="null" body="I know where y')


def test_truncated_inside_mms_media(tmp_path):
    data = sms_file('<sms address="+447700900123" date="1709317805123" type="1" body="a"/>',
                    '<mms date="1709400060000" msg_box="1"><parts><part seq="0" ct="image/gif" data="'
                    + "QUJD" * 50, count=2)
    data = data[:data.index(b"QUJD" * 50) + 200]
    rows, rejects, report = parse(tmp_path, "smsbr-sms", data)
    assert (len(rows), len(rejects)) == (1, 1)
    assert rejects[0].locator == "mms #2, line 4"
    assert rejects[0].raw.startswith('<mms date="1709400060000" msg_box="1"><parts><part seq="0"')
    assert "1 records found before the error (1 fewer)" in report.warnings[0]


def test_error_mid_file(tmp_path):
    """Damage in one record: the record is rejected with its text, every record after it is read."""
    data = sms_file(*[f'<sms address="+447700900123" date="170931780{i}000" type="1" body="n{i}"/>' for i in range(2)],
                    '<sms address="+447700900123" date="1709317802000" type="1" body="a & b"/>',
                    *[f'<sms address="+447700900123" date="170931780{i}000" type="1" body="n{i}"/>' for i in (3, 4)])
    rows, rejects, report = parse(tmp_path, "smsbr-sms", data)
    assert [(r["locator"], r["body"]) for r in rows] == [
        ("sms #1, line 3", "n0"), ("sms #2, line 4", "n1"), ("sms #4, line 6", "n3"), ("sms #5, line 7", "n4")]
    assert [(r.locator, r.reason, r.raw) for r in rejects] == [(
        "sms #3, line 5", "damaged record: not well-formed XML (xmlParseEntityRef: no name, line 5, column 69)",
        '<sms address="+447700900123" date="1709317802000" type="1" body="a & b"/>')]
    assert report.warnings == [
        "the file is not well-formed XML in places: 1 damaged record was rejected with its text: sms #3, line 5 "
        "(xmlParseEntityRef: no name, line 5, column 69); reading went on at the next record start tag each time"]


def test_utf16_file(tmp_path):
    rows, rejects, report = parse(tmp_path, "smsbr-sms", (SMSBR / "sms-utf16.xml").read_bytes())
    assert (len(rows), len(rejects), report.repairs, report.warnings) == (2, 0, 1, [])
    assert [(r["body"], r["locator"], r["flags"]) for r in rows] == [
        ("Café \U0001F600", "sms #1, line 3", ["repaired_chars"]), ("naïve \U0001F600", "sms #2, line 4", None)]


BILLION_LAUGHS = (b'<?xml version="1.0"?>\n<!DOCTYPE smses [\n <!ENTITY lol "lol">\n'
                  + b"".join(b' <!ENTITY lol%d "%s">\n' % (i, b"&lol%s;" % (str(i - 1).encode() if i > 1 else b"") * 10)
                             for i in range(1, 10))
                  + b']>\n<smses count="2">\n<sms date="1709317805123" type="1" body="&lol9;"/>\n'
                    b'<sms date="1709317805124" type="1" body="x">&lol9;</sms>\n</smses>\n')


def test_billion_laughs_is_not_expanded(tmp_path):
    started = time.perf_counter()
    rows, rejects, report = parse(tmp_path, "smsbr-sms", BILLION_LAUGHS)
    assert time.perf_counter() - started < 5
    assert (len(rows), [(r.locator, r.raw) for r in rejects]) == (0, [
        ("sms #1, line 15", '<sms date="1709317805123" type="1" body="&lol9;"/>'),
        ("sms #2, line 16", '<sms date="1709317805124" type="1" body="x">&lol9;</sms>')])
    assert "Maximum entity amplification factor exceeded" in rejects[0].reason
    assert "Entity 'lol9' not defined" in rejects[1].reason  # read on without the DOCTYPE: never expanded
    assert report.warnings[0].startswith("the file has a DOCTYPE")
    assert report.warnings[1].startswith("the file is not well-formed XML in places: 2 damaged records were")
    assert len(report.warnings) == 2


def test_external_entity_is_not_fetched(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    data = (f'<?xml version="1.0"?>\n<!DOCTYPE smses [<!ENTITY ext SYSTEM "{secret.as_uri()}">]>\n'
            '<smses count="2">\n<sms date="1709317805123" type="1" body="before">&ext;</sms>\n'
            '<sms date="1709317805124" type="1" body="x&ext;y"/>\n</smses>\n').encode()
    rows, rejects, report = parse(tmp_path, "smsbr-sms", data)
    assert [r["body"] for r in rows] == ["before"]
    assert "TOP SECRET" not in repr((rows, rejects, report.warnings))
    assert report.warnings[0].startswith("the file has a DOCTYPE")
    assert [(r.locator, r.reason) for r in rejects] == [
        ("sms #2, line 5", "damaged record: not well-formed XML (Attribute references external entity 'ext', "
                           "line 5, column 48)")]


def test_empty_backup(tmp_path):
    rows, rejects, report = parse(tmp_path, "smsbr-calls", b"<?xml version='1.0'?>\n<calls count=\"0\">\n</calls>\n")
    assert (rows, rejects, report.warnings, report.declared_count) == ([], [], [], 0)


def test_unreadable_stream_keeps_what_came_before(tmp_path):
    data = sms_file(*[f'<sms address="+447700900123" date="170931780{i}000" type="1" body="n{i}"/>' for i in range(4)])

    class Broken(io.RawIOBase):
        """Like a zip member whose CRC fails at the end."""

        def __init__(self) -> None:
            self._raw = io.BytesIO(data[:200])

        def read(self, n: int = -1) -> bytes:
            chunk = self._raw.read(n)
            if not chunk:
                raise zipfile.BadZipFile("Bad CRC-32 for file 'sms.xml'")
            return chunk

    ctx = make_ctx(tmp_path, timezone="Europe/London", owner=OWNER, parser_label="smsbr-sms/2")
    table, rejects = collect(registry.get("smsbr-sms").parse(Broken(), ctx), ctx)
    assert (table.num_rows, len(rejects)) == (1, 1)
    assert ctx.report.warnings[0] == "the file could not be read past byte 200: Bad CRC-32 for file 'sms.xml'"
    assert ctx.report.warnings[1].startswith("the file is truncated: it ends in the middle of an element at byte 200")
