import hashlib
import json
import re
from datetime import datetime, timedelta, timezone

import pytest
from conftest import CASE_TOML, make_case

from commtrail.cli import main
from commtrail.errors import UsageError
from commtrail.outputs import report_sections
from commtrail.outputs.report import write_report
from commtrail.timeline.master import read_master

pypdf = pytest.importorskip("pypdf")

T0 = datetime(2024, 2, 20, 9, 0, tzinfo=timezone.utc)
EMOJI = "I know you're at work \U0001f621\U0001f44d"
HEBREW = "\u05e9\u05dc\u05d5\u05dd \u05de\u05d4 \u05e9\u05dc\u05d5\u05de\u05da"          # shalom ma shlomcha
ARABIC = "\u0645\u0631\u062d\u0628\u0627 \u0643\u064a\u0641 \u062d\u0627\u0644\u0643"    # marhaba kaif halak
CJK = "\u4f60\u597d"
THAI = "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e04\u0e23\u0e31\u0e1a"                 # sawasdee khrap
LONG = "\n\n".join(f"Paragraph {n}: " + "please just talk to me " * 40 for n in range(1, 5))


def _records():
    recs = []
    texts = ["Why aren't you answering?", EMOJI, HEBREW, ARABIC, CJK, LONG, "Line one\nLine two"]
    for i in range(40):
        ts = T0 + timedelta(hours=13 * i)
        if i % 6 == 0:
            recs.append({"ts_utc": ts, "channel": "call", "kind": "missed", "direction": "incoming",
                         "sender": "+447700900123", "duration_s": 0})
        elif i % 9 == 0:
            recs.append({"ts_utc": ts, "channel": "sms", "kind": "message", "direction": "outgoing",
                         "recipients": ["+447700900456"], "body": f"Please stop contacting me ({i})."})
        else:
            recs.append({"ts_utc": ts, "channel": "sms", "kind": "message", "direction": "incoming",
                         "sender": "+447700900123", "sender_raw": "07700 900123",
                         "body": f"{texts[i % len(texts)]} #{i}",
                         "attachments": [{"name": "IMG-1.jpg", "mime": "image/jpeg", "size": 2048, "sha256": "ab" * 32}]
                         if i == 5 else None})
    recs.append({"ts_utc": T0, "channel": "sms", "kind": "message", "direction": "incoming",
                 "sender": "+447700900888", "body": "not a party"})
    return recs


INCIDENTS = [{"ts_utc": T0 + timedelta(days=2), "ts_local": "2024-02-22 08:00", "ts_precision": "min",
              "tz_source": "case", "channel": "incident", "kind": "incident", "direction": "incoming",
              "body": "Jordan waited outside my work.", "flags": ["attachment_missing"],
              "attachments": [{"name": "photo2.jpg", "mime": "image/jpeg", "size": None, "sha256": None},
                              {"name": "door.jpg", "mime": "image/jpeg", "size": 4096, "sha256": "cd" * 32}],
              "extra": json.dumps({"location": "Work", "police_called": "yes", "report_number": "CR/2024/0044"})}]


def _cjk_font(path):
    """A tiny TrueType font with two CJK glyphs, standing in for a CJK font package."""
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    def box():
        pen = TTGlyphPen(None)
        pen.moveTo((100, 0))
        pen.lineTo((100, 700))
        pen.lineTo((900, 700))
        pen.lineTo((900, 0))
        pen.closePath()
        return pen.glyph()
    names = [".notdef", "ni", "hao"]
    fb = FontBuilder(1000, isTTF=True)
    fb.setupGlyphOrder(names)
    fb.setupCharacterMap({0x4F60: "ni", 0x597D: "hao"})
    fb.setupGlyf({n: box() for n in names})
    fb.setupHorizontalMetrics({n: (1000, 100) for n in names})
    fb.setupHorizontalHeader(ascent=880, descent=-120)
    fb.setupNameTable({"familyName": "TestCJK", "styleName": "Regular"})
    fb.setupOS2(sTypoAscender=880, usWinAscent=880, usWinDescent=120)
    fb.setupPost()
    fb.save(str(path))
    return path


def _files(paths):
    """The report's files, the charts folder's included."""
    return sorted(f for p in paths for f in ([p] if p.is_file() else p.iterdir()))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    case = make_case(root / "case", {"sms.xml": _records(), "incidents.csv": INCIDENTS})
    font = _cjk_font(root / "testcjk.ttf")
    paths = write_report(case, extra_fonts=[font])
    digests = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in _files(paths)}
    reader = pypdf.PdfReader(case.report_dir / "report.pdf")
    text = "\n".join(page.extract_text() for page in reader.pages)
    html = (case.report_dir / "report.html").read_text(encoding="utf-8")
    return case, paths, digests, text, html, font, len(reader.pages)


def test_every_exhibit_of_the_party_in_order(built):
    case, _, _, text, html, _, _ = built
    master = read_master(case, ["exhibit", "party", "channel"]).to_pylist()
    expected = [r["exhibit"] for r in master if r["party"] == "Jordan" and r["channel"] != "incident"]
    assert len(expected) == 40
    log = text[text.index("Every event with"):]          # the exhibit log (the summary cites some too)
    listed = [x for x in re.findall(r"CT-\d{6}", log) if x in set(expected)]
    deduped = [x for n, x in enumerate(listed) if x not in listed[:n]]
    assert deduped == expected
    rows = re.findall(r'<tr id="(CT-\d{6})">', html)
    incident = [r["exhibit"] for r in master if r["channel"] == "incident"]
    assert rows == expected + incident
    unlinked = [r["exhibit"] for r in master if r["party"] is None and r["channel"] != "incident"]
    assert unlinked and unlinked[0] not in text and unlinked[0] not in html


def test_counts_in_text_equal_figures(built):
    case, _, _, text, html, _, _ = built
    sentences, figures = report_sections.summary(case, "Jordan")
    fig = dict(figures)
    assert fig["Contacts from them"] == "38" and fig["Contacts to them"] == "2"
    assert fig["At night (22:00-06:00)"] == "12 (32%)"
    assert fig["No reply within 24 hours"] == "34"      # the last 2 came less than 24 hours before the end
    assert fig["Contacts from them in the 30 days before / after the request for no contact, 1 March 2024 "
               "(and in all after it; \u2013 where the records do not reach that period)"] == "19 / 19 (19)"
    assert sentences[0] == ("Jordan contacted Sam 38 times between 20 February 2024 and 12 March 2024 "
                            "(31 text messages and 7 calls); Sam contacted Jordan 2 times.")
    assert sentences[1].startswith("Jordan contacted Sam 19 times in the 30 days after the request for no contact "
                                   "on 1 March 2024")
    assert "against 19 in the 30 days before" in sentences[1]
    assert "Jordan contacted Sam 12 times: 32% of all contacts from Jordan." in " ".join(sentences)
    flat = " ".join(text.split())
    for sentence in sentences:
        assert sentence.replace("'", "&#x27;") in html
        assert " ".join(sentence.split())[:60] in flat
    for label, value in figures:
        assert value in text


def test_unicode_survives_into_the_pdf_text_layer(built):
    _, _, _, text, _, _, _ = built
    flat = text.replace("\n", " ")
    assert "\U0001f621\U0001f44d" in flat
    assert HEBREW in flat
    assert ARABIC in flat
    assert CJK in flat
    assert "Paragraph 4: please just talk to me" in flat   # long texts are not cut


def test_glyph_without_font_shown_as_code_point_and_the_script_named(tmp_path, monkeypatch, capsys):
    (tmp_path / "no-fonts").mkdir()
    monkeypatch.setenv("COMMTRAIL_FONT_DIRS", str(tmp_path / "no-fonts"))   # as on a machine without them
    case = make_case(tmp_path / "case", {"sms.xml": [{
        "ts_utc": T0, "channel": "sms", "kind": "message", "direction": "incoming", "sender": "+447700900123",
        "body": f"{CJK} and \U00013000 and a bell \x07 and {THAI}"}]})
    warned = []
    write_report(case, warn=warned.append)
    pages = [" ".join(p.extract_text().split()) for p in pypdf.PdfReader(case.report_dir / "report.pdf").pages]
    text = next(p for p in pages if "and a bell" in p)
    assert "[U+4F60][U+597D] and [U+13000] and a bell [U+0007] and [U+0E2A][U+0E27]" in text
    assert f"{CJK} and \U00013000 and a bell \x07 and {THAI}" in (case.report_dir / "report.html").read_text("utf-8")
    assert warned == [
        "No installed font can show Chinese text: its 2 different characters are shown as code points such as "
        "[U+4F60]. Install a font for it (on Debian or Ubuntu: sudo apt-get install fonts-wqy-microhei) and run "
        "the report again.",
        "No installed font can show Thai text: its 8 different characters are shown as code points such as "
        "[U+0E04]. Install a font for it (on Debian or Ubuntu: sudo apt-get install fonts-noto-core) and run the "
        "report again.",
        "No font can show 1 different characters of other scripts: they are shown as code points such as [U+13000]."]
    assert " ".join(warned) in pages[0]                      # the cover says it too
    assert main(["report", str(case.root)]) == 0               # and so does the command
    out = capsys.readouterr().out.splitlines()
    assert [line for line in out if line.startswith("Warning:")] == [f"Warning: {w}" for w in warned]


def test_byte_identical_on_rerun_and_timestamp_differs(built):
    case, _, digests, _, _, font, _ = built
    again = write_report(case, extra_fonts=[font])
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in _files(again)} == digests
    stamped = write_report(case, timestamp=True, extra_fonts=[font])
    assert hashlib.sha256(stamped[1].read_bytes()).hexdigest() != digests["report.pdf"]
    assert "Generated at" in stamped[0].read_text("utf-8")
    write_report(case, extra_fonts=[font])


def test_html_is_self_contained(built):
    _, _, _, _, html, _, _ = built
    assert html.count('src="data:image/png;base64,') == 6     # Jordan's six charts
    assert not re.search(r'(src|href)="(?!data:|#)', html)
    assert "url(" not in html and "<link" not in html and "<script" not in html
    assert "Why aren&#x27;t you answering? #1" in html


def test_html_content_security_policy_allows_only_its_own_style_and_data_images(built):
    import base64
    _, _, _, _, html, _, _ = built
    metas = re.findall(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', html)
    assert len(metas) == 1 and html.index(metas[0]) < html.index("<style>")
    directives = dict(d.strip().split(" ", 1) for d in metas[0].split(";"))
    css = re.findall(r"<style>(.*?)</style>", html, re.S)
    assert len(css) == 1
    digest = base64.b64encode(hashlib.sha256(css[0].encode("utf-8")).digest()).decode()
    assert directives == {"default-src": "'none'", "style-src": f"'sha256-{digest}'", "img-src": "data:",
                          "base-uri": "'none'", "form-action": "'none'"}
    assert " style=" not in html and "<script" not in html


def test_sections_present(built):
    case, _, _, text, html, _, pages = built
    flat = " ".join(text.split())
    assert "page 1 of" in flat and f"page {pages} of {pages}" in flat
    assert text.count("Exhibit / local") >= 2           # table header repeated on every log page
    assert "Jordan waited outside my work." in flat and "CR/2024/0044" in flat
    assert "photo2.jpg · image/jpeg · file not found" in flat
    assert 'party[1].phones[1], line 15 ("07700 900123")' in flat
    assert "jordan.k@example.com never seen" in flat
    assert hashlib.sha256(case.master_file.read_bytes()).hexdigest() in flat
    assert "TEMPLATE — NOT LEGAL ADVICE" in flat
    assert "possibly deleted" in flat
    assert "Events in the master file that are linked to no party in case.toml and so are not listed here: 1." in flat


def test_rejects_summary_and_warnings(tmp_path):
    import pyarrow as pa

    from commtrail.atomic import write_table
    from commtrail.inventory import read_inventory, write_inventory
    from commtrail.timeline.schema import REJECT_SCHEMA
    case = make_case(tmp_path / "case", {"sms.xml": _records()[:3]})
    rows = read_inventory(case.sources_file)
    sha = rows[0]["sha256"]
    write_table(pa.Table.from_pylist([{"source_sha256": sha, "source_path": "sms.xml", "locator": f"sms #{i}",
                                       "reason": "no date" if i < 3 else "bad XML", "raw": "<sms/>", "parser": "t/1"}
                                      for i in range(5)], schema=REJECT_SCHEMA), case.staging / f"{sha}.rejects.parquet")
    rows[0]["rejects"], rows[0]["warnings"] = 5, ["backup ends mid-record"]
    write_inventory(case.sources_file, rows)
    write_report(case)
    flat = " ".join(t for p in pypdf.PdfReader(case.report_dir / "report.pdf").pages for t in p.extract_text().split())
    assert "sms.xml no date 3" in flat and "sms.xml bad XML 2" in flat
    assert "backup ends mid-record" in flat and "3 / 5 / 0" in flat


def test_single_party_and_unknown_party(tmp_path):
    toml = CASE_TOML + '\n[[party]]\nname = "Riley"\nphones = ["07700 900321"]\n'
    case = make_case(tmp_path / "case", {"sms.xml": _records()[:5] + [
        {"ts_utc": T0, "channel": "sms", "kind": "message", "direction": "incoming", "sender": "+447700900321",
         "body": "from Riley"}]}, toml=toml)
    write_report(case)
    html = (case.report_dir / "report.html").read_text("utf-8")
    assert "from Riley" in html and "<th>Party</th>" in html
    write_report(case, party="Riley")
    html = (case.report_dir / "report.html").read_text("utf-8")
    assert "from Riley" in html and "Why aren" not in html
    with pytest.raises(UsageError):
        write_report(case, party="Nobody")


def test_cli_report(tmp_path, capsys):
    case = make_case(tmp_path / "case", {"sms.xml": _records()[:4]})
    assert main(["report", str(case.root), "--party", "Jordan"]) == 0
    out = capsys.readouterr().out
    assert f"Wrote {case.report_dir / 'report.html'}" in out and f"Wrote {case.report_dir / 'report.pdf'}" in out
    digest = hashlib.sha256((case.report_dir / "report.pdf").read_bytes()).hexdigest()
    write_report(case, party="Jordan")
    assert hashlib.sha256((case.report_dir / "report.pdf").read_bytes()).hexdigest() == digest
    assert main(["report", str(case.root), "--party", "Nobody"]) == 2
    assert "there is no party called 'Nobody'" in capsys.readouterr().err


def test_undated_events_have_a_section_of_their_own(tmp_path):
    """Events with no time (null ts_utc, flag undated) of any channel: listed after the dated ones,
    in a section of their own, counted by stats, in every export; the period and the identifiers
    come from the dated ones."""
    import csv

    from commtrail.outputs.export import export
    from commtrail.outputs.stats import headline

    undated = {"ts_utc": None, "ts_precision": None, "tz_source": None, "kind": "message", "direction": "incoming",
               "flags": ["undated"]}
    recs = [{"ts_utc": T0, "channel": "sms", "kind": "message", "direction": "incoming",
             "sender": "+447700900123", "body": "dated"},
            {**undated, "channel": "sms", "sender": "+447700900123", "body": "no time at all"},
            {**undated, "channel": "email", "sender": "jordan.k@example.com", "subject": "when?", "body": "x",
             "extra": json.dumps({"undated_reason": "no Date: header, and no Received:, separator or Maildir "
                                                   "file name time to fall back on"})}]
    case = make_case(tmp_path / "case", {"mixed.xml": recs})
    figures = headline(case)
    assert (figures["events"], figures["undated"], figures["parties"]["Jordan"]["undated"]) == (3, 2, 2)
    assert figures["parties"]["Jordan"]["contacts_from"] == 1

    html_path, pdf_path = write_report(case)[:2]
    html = html_path.read_text()
    section = html[html.index('<section id="undated">'):]
    section = section[:section.index("</section>")]
    assert re.findall(r'<a href="#(CT-\d+)">', section) == ["CT-000002", "CT-000003"]
    assert "no Date: header, and no Received:, separator or Maildir file name time to fall back on" in section
    assert '<li><a href="#undated">Undated events</a></li>' in html
    assert "Period covered</dt><dd>2024-02-20 \u2013 2024-02-20</dd>" in html
    assert "None" not in html
    # their two rows in the exhibit log, and "first seen" of the address only undated events use
    assert html.count("undated: the source holds no time") == 3
    assert "jordan.k@example.com</td><td>undated: the source holds no time</td><td></td><td>1</td>" in html
    pdf_text = "".join(page.extract_text() for page in pypdf.PdfReader(pdf_path).pages)
    assert "Undated events" in pdf_text and "None" not in pdf_text

    path, n = export(case, "csv")
    rows = list(csv.DictReader(path.read_bytes().decode("utf-8-sig").splitlines(keepends=True)))
    assert [(r["exhibit"], r["local_time"], r["utc_time"], r["flags"]) for r in rows] == [
        ("CT-000001", "2024-02-20 09:00:00", "2024-02-20T09:00:00.000000Z", ""),
        ("CT-000002", "", "", "undated"), ("CT-000003", "", "", "undated")]


# -- what a verifier reads in the PDF (issue 14 points 11 and 14) ---------------------------------

def test_every_sha256_copies_whole_from_the_pdf_text(built):
    case, _, _, text, _, _, _ = built
    from commtrail.inventory import read_inventory
    from commtrail.outputs.manifest import sha256_file
    wanted = {r["sha256"] for r in read_inventory(case.sources_file)} | {"ab" * 32, "cd" * 32,
                                                                         sha256_file(case.master_file)}
    lines = text.splitlines()
    for sha in wanted:
        assert any(sha in line for line in lines), sha         # one unbroken string on one line
    found = set(re.findall(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])", text))
    assert found == wanted
    assert not re.search(r"(?<![0-9a-f])[0-9a-f]{16}\n", text)   # no hash cut into pieces any more


def test_hashes_are_in_the_monospace_font(built):
    case = built[0]
    reader = pypdf.PdfReader(case.report_dir / "report.pdf")
    fonts = {f["/BaseFont"] for page in reader.pages for f in
             (v.get_object() for v in page["/Resources"]["/Font"].values())}
    assert any("+DejaVuSansMono" in name for name in fonts)


def test_contents_list_gives_the_page_of_each_section(built):
    case, _, _, _, _, _, pages = built
    reader = pypdf.PdfReader(case.report_dir / "report.pdf")
    texts = [" ".join(p.extract_text().split()) for p in reader.pages]
    cover = texts[0]
    names = ["Summary", "Charts", "Exhibit log", "Incident log", "Identifiers", "Source inventory",
             "Certification (draft template)"]
    listed = [int(re.search(rf"{n}\. {re.escape(name)} (\d+)", cover).group(1)) for n, name in enumerate(names, 1)]
    assert listed[0] == 2 and listed == sorted(listed) and listed[-1] <= pages
    for name, page in zip(names, listed):
        assert name in texts[page - 1] and (page == 2 or name not in texts[page - 2].split(" page ")[0]
                                           or texts[page - 2].count(name) >= 1)
        heading_page = next(i for i, t in enumerate(texts[1:], 2) if t.startswith(f"Test case {name} {name}"))
        assert heading_page == page
    assert [o.title for o in reader.outline] == names          # and the PDF's bookmarks


@pytest.mark.parametrize("body", ["see page {nb} of {nb}", f"see page {{nb}} {HEBREW}"], ids=["latin", "shaped"])
def test_a_message_holding_the_page_count_placeholder_is_shown_as_written(tmp_path, body):
    """The page count is written as a number once known (pdf_pages), never through fpdf2's "{nb}"
    placeholder, which fpdf2 replaced in any text set with cell(), as right-to-left text is drawn
    (through fpdf2's shaping): a message keeps it as written."""
    case = make_case(tmp_path / "case", {"sms.xml": [
        {"ts_utc": T0, "channel": "sms", "kind": "message", "direction": "incoming", "sender": "+447700900123",
         "body": body}]})
    write_report(case)
    texts = [" ".join(p.extract_text().split()) for p in pypdf.PdfReader(case.report_dir / "report.pdf").pages]
    pages = len(texts)
    assert any("see page {nb}" in t for t in texts)
    for n, text in enumerate(texts, 1):
        assert f"page {n} of {pages}" in text


SCRIPTS = {
    "Chinese": "\u6211\u4eec\u9700\u8981\u8c08\u8c08",                              # women xuyao tantan
    "Japanese": "\u3053\u3093\u306b\u3061\u306f\u3001\u5143\u6c17\u3067\u3059\u304b",  # konnichiwa, genki desu ka
    "Korean": "\uc548\ub155\ud558\uc138\uc694 \uc798 \uc9c0\ub0b4\uc694",             # annyeonghaseyo
    "Arabic": ARABIC, "Hebrew": HEBREW,
    "Devanagari": "\u0928\u092e\u0938\u094d\u0924\u0947 \u0906\u092a \u0915\u0948\u0938\u0947 \u0939\u0948\u0902",  # namaste
    "Thai": THAI,
}


def test_every_script_shows_as_text_with_the_fonts_installed(tmp_path):
    """CI installs the fonts (.ci/run, `make test`): this test fails, never skips, without them."""
    from commtrail.outputs.report_fonts import font_chain
    chain = font_chain()
    assert {s.name for s in chain.scripts if s.face is None} == set(), \
        "a script font is missing: run `make fonts` (apt-get install fonts-noto-core fonts-wqy-microhei)"
    recs = [{"ts_utc": T0 + timedelta(minutes=n), "channel": "sms", "kind": "message", "direction": "incoming",
             "sender": "+447700900123", "body": f"{name}: {text}"} for n, (name, text) in enumerate(SCRIPTS.items())]
    case = make_case(tmp_path / "case", {"sms.xml": recs})
    warned = []
    write_report(case, warn=warned.append)
    reader = pypdf.PdfReader(case.report_dir / "report.pdf")
    flat = "".join("".join(p.extract_text().split()) for p in reader.pages)   # pypdf adds spaces in shaped text
    for name, text in SCRIPTS.items():
        assert f"{name}:" + "".join(text.split()) in flat, name
    assert "[U+" not in flat and warned == []


def test_sources_shown_by_name_and_relative_path_never_the_users_folders(tmp_path):
    base = "/home/sam/Private/phone-backups"
    chat = f"{base}/whatsapp/WhatsApp Chat with Jordan K_2024-very-long-export-name.zip!WhatsApp Chat with Jordan.txt"
    sms = f"{base}/sms-20240301.xml"
    rec = {"ts_utc": T0, "channel": "sms", "kind": "message", "direction": "incoming", "sender": "+447700900123",
           "body": "hello"}
    case = make_case(tmp_path / "case", {sms: [rec], chat: [{**rec, "ts_utc": T0 + timedelta(hours=1)}]})
    write_report(case)
    html = (case.report_dir / "report.html").read_text("utf-8")
    text = "\n".join(p.extract_text() for p in pypdf.PdfReader(case.report_dir / "report.pdf").pages)
    assert "/home/sam" not in html and "/home/sam" not in text and "Private" not in text
    assert "sms-20240301.xml" in html and "whatsapp/WhatsApp Chat with Jordan K_2024-very-long-export-name.zip!" \
        "WhatsApp Chat with Jordan.txt" in html
    lines = text.splitlines()
    inventory = lines[lines.index("Source inventory"):]
    first = next(i for i, line in enumerate(inventory) if line.startswith("sms-20240301.xml "))
    name = inventory.index("WhatsApp Chat with Jordan.txt")
    assert first < name and inventory[name:name + 3] == [
        "WhatsApp Chat with Jordan.txt", "whatsapp/WhatsApp Chat with Jordan K_2024-very-long-export-name.zip!",
        "WhatsApp Chat with Jordan.txt"]
    log = text[text.index("Exhibit log\nEvery"):text.index("Incident log\nIncident log")].splitlines()
    start = next(i for i, line in enumerate(log) if "whatsapp/" in line)
    end = next(i for i, line in enumerate(log) if "Jordan.txt" in line)
    assert end - start >= 2                                  # the narrow column breaks it...
    assert all(line[-1] in "/!_- " for line in log[start:end])   # ...only after a separator
    assert "".join(log[start:end + 1]).endswith("zip!WhatsApp Chat with Jordan.txt")
    assert read_master(case)["source_path"].to_pylist() == [sms, chat]     # the case files keep the full path


def test_shown_paths_relative_to_the_shared_folder():
    from commtrail.inventory import shown_paths, source_name
    paths = ["/home/sam/b/x/sms.xml", "/home/sam/b/chat.zip!inner/chat.txt", "relative.xml"]
    assert shown_paths(paths) == {"/home/sam/b/x/sms.xml": "x/sms.xml", "/home/sam/b/chat.zip!inner/chat.txt":
                                  "chat.zip!inner/chat.txt", "relative.xml": "relative.xml"}
    assert shown_paths(["/home/sam/one.xml"]) == {"/home/sam/one.xml": "one.xml"}
    assert [source_name(s) for s in ("x/sms.xml", "chat.zip!inner/chat.txt")] == ["sms.xml", "chat.txt"]


def test_sources_shown_relative_to_the_input_given_on_the_command_line(tmp_path, capsys):
    import shutil
    from conftest import FIXTURES
    from commtrail.inventory import read_inventory
    given = tmp_path / "home" / "Private" / "phone-backups"
    (given / "old phone" / "calls").mkdir(parents=True)
    shutil.copy(FIXTURES / "smsbr" / "calls.xml", given / "old phone" / "calls" / "calls-2024.xml")
    elsewhere = tmp_path / "media" / "usb stick"
    elsewhere.mkdir(parents=True)
    shutil.copy(FIXTURES / "smsbr" / "sms-mms.xml", elsewhere / "sms-2024.xml")
    case = tmp_path / "case"
    (case).mkdir()
    (case / "case.toml").write_text(CASE_TOML, encoding="utf-8")
    assert main(["ingest", str(case), str(given), str(elsewhere / "sms-2024.xml")]) == 0
    rows = {r["path"]: r["input"] for r in read_inventory(case / "sources.parquet")}
    assert rows == {str(given / "old phone" / "calls" / "calls-2024.xml"): str(given),
                    str(elsewhere / "sms-2024.xml"): str(elsewhere / "sms-2024.xml")}
    assert main(["report", str(case)]) == 0
    capsys.readouterr()
    html = (case / "report" / "report.html").read_text("utf-8")
    text = "\n".join(p.extract_text() for p in pypdf.PdfReader(case / "report" / "report.pdf").pages)
    assert str(tmp_path) not in html and str(tmp_path) not in text
    assert '<span class="mono">old phone/calls/calls-2024.xml</span>' in html
    assert '<b>sms-2024.xml</b><br><span class="mono">sms-2024.xml</span>' in html
    assert "old phone/calls/calls-2024.xml" in text.splitlines()
