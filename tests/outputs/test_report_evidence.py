"""The report's evidence section (thumbnail, hash, time and its source, OCR text, exhibits shown),
the exhibit log's marks and the exports' columns, on a case with a drawn screenshot."""

import base64
import csv
import hashlib
import io
import re

import pytest
from PIL import Image
from pypdf import PdfReader

from evidence_media import SCREEN, SHOT, screenshot_case, text_image

from commtrail.cli import main

ONLY = "Only in this screenshot (no source holds it), OCR line 8: \u201cyou saw my car outside 21:05\u201d"
SHOWS = "Shows these messages, also held in a source: CT-000003, CT-000004, CT-000005"
COUNT = ("Messages seen in a screenshot that no source holds (only in a screenshot; each is listed with the text "
         "read by OCR in the section on screenshots): 1 in the whole case, 1 of them in screenshots listed in "
         "this report.")


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory):
    case = screenshot_case(tmp_path_factory.mktemp("report"))
    assert main(["report", str(case)]) == 0
    assert main(["export", str(case), "--format", "csv"]) == 0
    return case


def test_html_evidence_section_has_thumbnail_hash_time_ocr_and_links(case_dir):
    html = (case_dir / "report" / "report.html").read_text(encoding="utf-8")
    section = html[html.index('<section id="evidence">'):]
    section = section[:section.index("</section>")]
    sha = hashlib.sha256(text_image(SCREEN)).hexdigest()
    assert f"SHA-256 {sha}" in section
    assert "CT-000006<br>2024-03-15<br>21:30:00 GMT<br>" in section
    assert "time from the file name (Android screenshot)" in section
    assert "<b>Text read by OCR</b>" in section and "where are you tonight 21:02\n| know you are" in section
    assert SHOWS in section and ONLY in section
    thumbs = re.findall(r'<img alt="([^"]+)" src="data:image/jpeg;base64,([^"]+)">', section)
    assert [name for name, _ in thumbs] == [SHOT]
    with Image.open(io.BytesIO(base64.b64decode(thumbs[0][1]))) as image:
        assert (image.format, image.size) == ("JPEG", (320, 270))   # 700 x 590 scaled down
    assert '<li><a href="#evidence">Screenshots and other evidence files</a></li>' in html


def test_exhibit_log_marks_the_messages_a_screenshot_shows_and_the_count_sits_beside_possibly_deleted(case_dir):
    html = (case_dir / "report" / "report.html").read_text(encoding="utf-8")
    log = html[html.index('<section id="exhibits">'):html.index('<section id="incidents">')]
    marked = re.findall(r'<tr id="(CT-\d+)">(?:(?!</tr>).)*Shown in screenshot CT-000006', log, re.S)
    assert marked == ["CT-000003", "CT-000004", "CT-000005"]
    sources = html[html.index('<section id="sources">'):]
    assert ("lacks: 0 in the whole case, 0 of them among the events listed in this report. Each was possibly deleted "
            "from the phone between the two backups; but where the two backups come from two different phones (only "
            "iPhone backups name theirs, and only backups of one iPhone are compared), it may never have been on the "
            "phone of the later one.") in sources
    assert f"<p>{COUNT}</p>" in sources


def test_pdf_evidence_section_has_the_thumbnail_and_hash(case_dir):
    pdf = PdfReader(str(case_dir / "report" / "report.pdf"))
    pages = [p for p in pdf.pages if "Text read by OCR" in p.extract_text()]
    assert len(pages) == 1
    text = pages[0].extract_text()
    sha = hashlib.sha256(text_image(SCREEN)).hexdigest()
    assert f"SHA-256 {sha}" in text and "CT-000006 · 2024-03-15 21:30:00 GMT" in text
    assert SHOWS in text.replace("\n", " ") and "OCR line 8: \u201cyou saw my car outside 21:05\u201d" in text
    assert len(pages[0].images) == 1
    all_text = " ".join(p.extract_text().replace("\n", " ") for p in pdf.pages)
    assert COUNT in all_text and all_text.count("Shown in screenshot CT-000006") == 3


def test_exports_list_what_a_screenshot_shows_and_where_a_message_is_shown(case_dir):
    with open(case_dir / "report" / "exports" / "master.csv", encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["exhibit"], r["screenshot_shows"], r["shown_in_screenshots"], r["only_in_screenshot"]) for r in rows] == [
        ("CT-000001", "", "", ""), ("CT-000002", "", "", ""), ("CT-000003", "", "CT-000006", ""),
        ("CT-000004", "", "CT-000006", ""), ("CT-000005", "", "CT-000006", ""),
        ("CT-000006", "CT-000003; CT-000004; CT-000005", "", "you saw my car outside 21:05")]


def test_a_report_on_one_party_lists_the_screenshots_showing_that_partys_messages(tmp_path):
    import json
    from datetime import datetime, timezone

    import pyarrow.compute as pc

    from conftest import CASE_TOML, make_case

    from commtrail.outputs.report_evidence import evidence_rows
    from commtrail.outputs.screenshot_cells import ScreenshotCells
    from commtrail.timeline.master import read_master

    toml = CASE_TOML + '\n[[party]]\nname = "Alex"\nphones = ["07700 900321"]\n'
    when = datetime(2024, 3, 15, 21, 0, tzinfo=timezone.utc)

    def message(number, text):
        return {"ts_utc": when, "ts_local": "2024-03-15T21:00:00", "ts_precision": "s", "tz_source": "source",
                "channel": "sms", "kind": "message", "direction": "incoming", "sender": number, "body": text}

    def shot(minutes, text):
        at = when.replace(minute=minutes)
        return {"ts_utc": at, "ts_local": at.isoformat(), "ts_precision": "s", "tz_source": "source",
                "channel": "evidence", "kind": "screenshot", "direction": "unknown",
                "extra": json.dumps({"ocr_text": text})}

    case = make_case(tmp_path / "case", {
        "sms": [message("+447700900123", "open the door right now"), message("+447700900321", "see you at the game")],
        "shots": [shot(5, "open the door right now"), shot(6, "see you at the game"),
                  shot(7, "a message that no backup holds")]}, toml=toml)
    master = read_master(case)
    shots = ScreenshotCells.of(case)
    times = {}
    for party in ("Jordan", "Alex", None):
        listed = master.filter(pc.fill_null(pc.equal(master["party"], party or "Jordan"), False))
        rows = evidence_rows(master, listed, shots, party is None)
        times[party] = [t.minute for t in rows["ts_utc"].to_pylist()]
    assert times == {"Jordan": [5], "Alex": [6], None: [5, 6, 7]}
