"""Exhibit numbers, once produced, never change (timeline/produced.py and its readers)."""

import hashlib
import io
import json
import re
from pathlib import Path

import pytest
from conftest import CASE_TOML
from rich.console import Console

from commtrail.case import Case
from commtrail.cli import main
from commtrail.errors import CaseError
from commtrail.outputs.produce import produce
from commtrail.outputs.report import write_report
from commtrail.outputs.transcript import write_transcript
from commtrail.pipeline import current_case, ingest_and_build
from commtrail.timeline import dedup
from commtrail.timeline.master import build_master, read_master
from commtrail.timeline.produced import out_of_time_order, read_productions

pypdf = pytest.importorskip("pypdf")

CHAT = "WhatsApp Chat with Jordan.txt"
# The first backup, and a later one of the same chat holding it all plus messages in the middle of
# the period, before it and after it.
FIRST = ("15/03/2024, 08:40 - Jordan: one\n15/03/2024, 08:45 - Jordan: two\n"
         "20/03/2024, 10:00 - Jordan: three\n")
LATER = ("14/03/2024, 22:00 - Jordan: before\n15/03/2024, 08:40 - Jordan: one\n15/03/2024, 08:42 - Jordan: middle\n15/03/2024, 08:45 - Jordan: two\n"
         "18/03/2024, 07:00 - Jordan: also middle\n20/03/2024, 10:00 - Jordan: three\n"
         "25/03/2024, 21:15 - Jordan: after{pad}\n")
SMS = """<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>
<smses count="1">
  <sms protocol="0" address="07700 900123" date="{ms}" type="1" subject="null" body="{body}" read="1" status="-1" locked="0" date_sent="0" contact_name="Jordan" />
</smses>
"""


def _later_text(before_first: bool) -> str:
    """LATER padded so that its SHA-256 sorts before (or after) FIRST's: which copy represents an
    event is then known."""
    first = hashlib.sha256(FIRST.encode()).hexdigest()
    for n in range(200):
        text = LATER.format(pad="!" * n)
        if (hashlib.sha256(text.encode()).hexdigest() < first) == before_first:
            return text
    raise AssertionError("no padding found")


def _write(folder: Path, name: str, text: str) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return str(folder / name)


def _case(root: Path, toml: str = CASE_TOML) -> Path:
    (root / "case").mkdir(parents=True)
    (root / "case" / "case.toml").write_text(toml, encoding="utf-8")
    return root / "case"


def _ingest(case_dir: Path, *paths: str) -> None:
    assert ingest_and_build(case_dir, list(paths), Console(file=io.StringIO())) == 0


def _rows(case: Case) -> list[tuple[str, str, str]]:
    """(exhibit, UTC time, text) of the master's rows, in row order."""
    table = read_master(case, ["exhibit", "ts_utc", "body"])
    return [(r["exhibit"], r["ts_utc"].strftime("%d/%m %H:%M"), r["body"]) for r in table.to_pylist()]


def _produced_then_later(root: Path, later: str, command: bool = False) -> Case:
    """FIRST ingested and produced as a report (with ``command``, by running report --produced),
    then the later backup ingested."""
    case_dir = _case(root)
    _ingest(case_dir, _write(root / "a", CHAT, FIRST))
    if command:
        assert main(["report", str(case_dir), "--produced"]) == 0
    else:
        produce(Case(case_dir), "report", None)
    _ingest(case_dir, _write(root / "b", CHAT, later))
    return Case(case_dir)


AFTER_PRODUCTION = [("CT-000001", "15/03 08:40", "one"), ("CT-000002", "15/03 08:45", "two"),
                    ("CT-000003", "20/03 10:00", "three"), ("CT-000004", "14/03 22:00", "before"),
                    ("CT-000005", "15/03 08:42", "middle"), ("CT-000006", "18/03 07:00", "also middle")]


def test_produced_numbers_stay_and_later_events_follow_the_last_in_time_order(tmp_path):
    case = _produced_then_later(tmp_path, _later_text(before_first=True), command=True)
    rows = _rows(case)
    assert rows[:6] == AFTER_PRODUCTION
    assert rows[6][:2] == ("CT-000007", "25/03 21:15") and rows[6][2].startswith("after") and len(rows) == 7
    # the later backup's SHA-256 sorts first, so it now holds the representative copies: same numbers
    master = read_master(case, ["exhibit", "source_path", "occurrences"]).to_pylist()
    assert all(r["source_path"].endswith(f"b/{CHAT}") for r in master)
    assert [len(r["occurrences"]) for r in master] == [2, 2, 2, 1, 1, 1, 1]
    [first] = read_productions(case.root)
    assert (first.number, first.by, first.scope, first.first, first.last) == (1, "report", "every party", 1, 3)
    line = json.loads((case.root / "productions.jsonl").read_text().splitlines()[0])
    assert sorted(line) == ["by", "event_ids", "first", "last", "master_sha256", "production", "recorded_at", "scope"]
    assert line["event_ids"] == [r["event_id"] for r in read_master(case, ["event_id"]).to_pylist()[:3]]
    assert out_of_time_order(read_master(case, ["ts_utc"])["ts_utc"]).tolist() == [False, False, False, True, True,
                                                                                   True, False]
    assert main(["verify", str(case.root)]) == 0   # the manifest covers productions.jsonl


def test_a_second_production_freezes_the_new_numbers_and_a_third_adds_nothing(tmp_path):
    case = _produced_then_later(tmp_path, _later_text(before_first=False))
    assert produce(case, "bundle", "Jordan").number == 2
    text = (case.root / "productions.jsonl").read_text()
    assert produce(case, "report", None).number == 2          # nothing new: no line added
    assert (case.root / "productions.jsonl").read_text() == text
    second = read_productions(case.root)[1]
    assert (second.by, second.scope, second.first, second.last, len(second.event_ids)) == \
        ("bundle", "party Jordan", 4, 7, 4)
    # an SMS between the produced ones gets the next number
    before = _rows(case)
    _ingest(case.root, _write(tmp_path / "c", "sms.xml", SMS.format(ms=1710752400000, body="by text")))
    assert _rows(case)[:7] == before and _rows(case)[7:] == [("CT-000008", "18/03 09:00", "by text")]


def test_same_inputs_and_same_productions_give_the_same_bytes(tmp_path, monkeypatch):
    later = _later_text(before_first=True)
    for name in ("one", "two"):   # inputs named alike (relative to each case's folder)
        (tmp_path / name).mkdir()
        monkeypatch.chdir(tmp_path / name)
        _produced_then_later(Path("."), later)
    one, two = (Case(tmp_path / name / "case") for name in ("one", "two"))
    assert one.master_file.read_bytes() == two.master_file.read_bytes()
    for case in (one, two):
        write_report(case)
    # (the PDF's creation date is the last ingest's time, which differs between the two cases)
    assert (one.report_dir / "report.html").read_bytes() == (two.report_dir / "report.html").read_bytes()
    # without the production the same inputs give the chronological numbers
    plain = _case(tmp_path / "plain")
    _ingest(plain, _write(tmp_path / "plain" / "a", CHAT, FIRST))
    _ingest(plain, _write(tmp_path / "plain" / "b", CHAT, later))
    assert [r[2][:5] for r in _rows(Case(plain))] == ["befor", "one", "middl", "two", "also ", "three", "after"]
    assert [r[0] for r in _rows(Case(plain))] == [f"CT-{n:06d}" for n in range(1, 8)]


def test_the_figures_do_not_depend_on_the_numbering(tmp_path):
    from commtrail.outputs.stats import headline
    later = _later_text(before_first=True)
    produced = _produced_then_later(tmp_path / "produced", later)
    plain = _case(tmp_path / "plain")
    _ingest(plain, _write(tmp_path / "plain" / "a", CHAT, FIRST), _write(tmp_path / "plain" / "b", CHAT, later))
    figures, chronological = headline(produced), headline(Case(plain))
    # the first contact after the no-contact request is the same message under its own number
    assert figures["parties"]["Jordan"]["events"][0]["next_contact"] == "CT-000004"
    assert chronological["parties"]["Jordan"]["events"][0]["next_contact"] == "CT-000001"
    figures["parties"]["Jordan"]["events"][0]["next_contact"] = "CT-000001"
    assert figures == chronological
    assert figures["parties"]["Jordan"]["first"] == "2024-03-14T22:00:00+00:00"


def test_before_any_production_the_ingest_order_does_not_matter(tmp_path, monkeypatch):
    later = _later_text(before_first=True)
    sms = SMS.format(ms=1710752400000, body="by text")
    inputs = {"first": (CHAT, FIRST), "later": (CHAT, later), "sms": ("sms.xml", sms)}
    masters = []
    for name, order in (("x", ("first", "later", "sms")), ("y", ("sms", "later", "first"))):
        (tmp_path / name).mkdir()
        monkeypatch.chdir(tmp_path / name)   # inputs named alike (relative to each case's folder)
        case_dir = _case(Path("."))
        for folder in order:
            _ingest(case_dir, _write(Path(folder), *inputs[folder]))
        masters.append(tmp_path / name / "case" / "master.parquet")
    assert masters[0].read_bytes() == masters[1].read_bytes()
    rows = _rows(Case(masters[0].parent))
    assert [r[1] for r in rows] == ["14/03 22:00", "15/03 08:40", "15/03 08:42", "15/03 08:45", "18/03 07:00", "18/03 09:00",
                                    "20/03 10:00", "25/03 21:15"]
    assert [r[0] for r in rows] == [f"CT-{n:06d}" for n in range(1, 9)]


def test_a_party_rename_keeps_the_numbers(tmp_path):
    case = _produced_then_later(tmp_path, _later_text(before_first=True))
    before = _rows(case)
    renamed = CASE_TOML.replace('name = "Jordan"', 'name = "Jordan K"')
    (case.root / "case.toml").write_text(renamed, encoding="utf-8")
    case = current_case(case.root, Console(file=io.StringIO()))   # rebuilds the master from staging
    assert _rows(case) == before
    assert set(read_master(case, ["party"])["party"].to_pylist()) == {"Jordan K"}


def test_a_produced_event_that_is_gone_leaves_its_number_unused(tmp_path):
    case_dir = _case(tmp_path)
    _ingest(case_dir, _write(tmp_path / "a", CHAT, FIRST),
            _write(tmp_path / "s", "sms.xml", SMS.format(ms=1710752400000, body="by text")))
    case = Case(case_dir)
    assert [r[0] for r in _rows(case)] == ["CT-000001", "CT-000002", "CT-000003", "CT-000004"]
    produce(case, "report", None)
    # the SMS source's staging file is lost (verify would name it): its event leaves the master
    sms_sha = hashlib.sha256(SMS.format(ms=1710752400000, body="by text").encode()).hexdigest()
    (case.staging / f"{sms_sha}.parquet").unlink()
    build_master(case)
    _ingest(case_dir, _write(tmp_path / "c", "sms.xml", SMS.format(ms=1710400000000, body="earliest")))
    assert _rows(case) == [("CT-000001", "15/03 08:40", "one"), ("CT-000002", "15/03 08:45", "two"),
                           ("CT-000004", "20/03 10:00", "three"), ("CT-000005", "14/03 07:06", "earliest")]


def test_an_edited_productions_file_is_refused_by_name(tmp_path):
    case = _produced_then_later(tmp_path, _later_text(before_first=True))
    path = case.root / "productions.jsonl"
    path.write_text(path.read_text() + "{not json\n")
    with pytest.raises(CaseError, match="line 2 of productions.jsonl"):
        produce(case, "report", None)


def _pdf_text(path: Path) -> str:
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in pypdf.PdfReader(path).pages))


def test_reports_and_transcripts_mark_rows_numbered_after_a_production(tmp_path):
    case = _produced_then_later(tmp_path, _later_text(before_first=True))
    write_report(case)
    html = (case.report_dir / "report.html").read_text()
    assert all(f"<td>CT-00000{n} \u2020</td>" in html for n in (4, 5, 6))
    assert all(f"<td>CT-00000{n}</td>" in html for n in (1, 2, 3, 7)) and html.count("\u2020</td>") == 3
    assert ("\u2020 Numbered after a production: the exhibit numbers handed over never change, so this event, "
            "added to the case later, is numbered after the last produced number (CT-000003) although it is "
            "earlier in time than a row above it.") in html
    assert "Produced: CT-000001 to CT-000003 by report (every party) (productions.jsonl, 1 production(s))" in html
    # first and last seen are the earliest and the latest, not the first and last rows
    assert "<td>2024-03-14 22:00:00 GMT</td><td>2024-03-25 21:15:00 GMT</td><td>7</td>" in html
    pdf = _pdf_text(case.report_dir / "report.pdf")
    assert "CT-000004 \u2020" in pdf and "Numbered after a production" in pdf and "CT-000003 \u2020" not in pdf
    target = write_transcript(case, "Jordan", tmp_path / "t.pdf", {}, {}, "0" * 64)
    text = _pdf_text(target)
    assert re.findall(r"(CT-\d{6})( \u2020)? \[(\d{4})\]", text) == [
        ("CT-000001", "", "0001"), ("CT-000002", "", "0002"), ("CT-000003", "", "0003"),
        ("CT-000004", " \u2020", "0004"), ("CT-000005", " \u2020", "0005"), ("CT-000006", " \u2020", "0006"),
        ("CT-000007", "", "0007")]
    assert "Numbered after a production" in text
    # first and last contact are the earliest and the latest, not the first and last rows
    assert "Period: 2024-03-14 to 2024-03-25" in text
    assert "first contact 2024-03-14 22:00 GMT (+00:00), last contact 2024-03-25 21:15 GMT (+00:00), 7 event(s)" in text


def test_before_a_production_reports_say_the_numbers_are_chronological(tmp_path):
    case_dir = _case(tmp_path)
    _ingest(case_dir, _write(tmp_path / "a", CHAT, FIRST))
    write_report(Case(case_dir))
    html = (case_dir / "report" / "report.html").read_text()
    assert "in time order (numbers once produced, by a bundle or by report --produced, never change" in html
    assert "\u2020" not in html


# The WhatsApp key before media and deleted messages were keyed as such: a media message by its text
# and file name, so the same message written "(file attached)" and "<Media omitted>" was two events.
_NEW_RULES = (f"       WHEN channel = 'whatsapp' AND list_contains(flags, 'deleted') THEN {dedup.SEP} || 'deleted'\n"
              "       WHEN channel = 'whatsapp' AND (len(attachments) > 0 OR list_contains(flags, 'media_omitted'))\n"
              f"            THEN {dedup.SEP} || 'media'\n")
OLD_KEY_SQL = dedup.KEY_SQL.replace(_NEW_RULES, "")
MEDIA = "13/03/2024, 09:17 - Jordan: IMG-20240313-WA0001.jpg (file attached)\n"
OMITTED = "13/03/2024, 09:17 - Jordan: <Media omitted>\n"
TALK, ANSWER = "13/03/2024, 09:15 - Jordan: we need to talk\n", "13/03/2024, 09:20 - Jordan: answer me\n"


def _old_keys(monkeypatch) -> None:
    monkeypatch.setattr(dedup, "KEYED_CODE", dedup.KEYED_CODE.replace(dedup.KEY_SQL, OLD_KEY_SQL))
    monkeypatch.setattr(dedup, "KEY_SQL", OLD_KEY_SQL)


def _produced_under_old_keys(root: Path, monkeypatch, *exports: str) -> Case:
    """A case of these exports of one chat, built and produced under the old key."""
    case_dir = _case(root)
    with monkeypatch.context() as patch:
        _old_keys(patch)
        _ingest(case_dir, *(_write(root / f"in{n}", CHAT, text) for n, text in enumerate(exports)))
        produce(Case(case_dir), "report", None)
    return Case(case_dir)


def _exhibit_row(case: Case, exhibit: str) -> str:
    """The report's exhibit-log row of this exhibit (the report written by the command)."""
    assert main(["report", str(case.root)]) == 0
    html = (case.report_dir / "report.html").read_text()
    return re.search(rf'<tr id="{exhibit}">.*?</tr>', html).group(0)


def _rebuilt(case: Case, root: Path) -> None:
    """A later ingest (an SMS): the master is built again, with the keying code of now."""
    _ingest(case.root, _write(root / "sms", "sms.xml", SMS.format(ms=1710752400000, body="by text")))


def test_a_produced_media_message_keyed_anew_keeps_its_number(tmp_path, monkeypatch, capsys):
    case = _produced_under_old_keys(tmp_path, monkeypatch, TALK + MEDIA + ANSWER)
    before = read_master(case, ["exhibit", "event_id", "body", "occurrences"]).to_pylist()
    row = _exhibit_row(case, "CT-000002")
    _rebuilt(case, tmp_path)
    after = read_master(case, ["exhibit", "event_id", "body", "occurrences"]).to_pylist()
    assert [(r["exhibit"], r["body"], r["occurrences"]) for r in after[:3]] == \
        [(r["exhibit"], r["body"], r["occurrences"]) for r in before]
    assert after[1]["event_id"] != before[1]["event_id"]
    assert [r["event_id"] for r in after[:3:2]] == [r["event_id"] for r in before[::2]]
    assert [(r["exhibit"], r["body"]) for r in after[3:]] == [("CT-000004", "by text")]
    lines = [json.loads(line) for line in (case.root / "productions.jsonl").read_text().splitlines()]
    assert len(lines) == 2 and (lines[1]["carried"], lines[1]["from"], lines[1]["to"]) == \
        ([2], [before[1]["event_id"]], [after[1]["event_id"]])
    assert _exhibit_row(case, "CT-000002") == row and "IMG-20240313-WA0001.jpg" in row
    assert main(["verify", str(case.root)]) == 0       # the manifest covers the carry
    build_master(case)                                  # a later build keeps it, adding nothing
    assert read_master(case, ["exhibit"])["exhibit"].to_pylist() == [f"CT-00000{n}" for n in range(1, 5)]
    assert len((case.root / "productions.jsonl").read_text().splitlines()) == 2
    assert "Warning" not in capsys.readouterr().err


def test_two_produced_events_merged_by_the_new_key_keep_the_lower_number(tmp_path, monkeypatch):
    # the same media message written by two exports of the chat: two events under the old key, one now
    case = _produced_under_old_keys(tmp_path, monkeypatch, TALK + MEDIA + ANSWER, TALK + OMITTED + ANSWER)
    before = read_master(case, ["exhibit", "event_id", "body"]).to_pylist()
    assert [r["exhibit"] for r in before] == ["CT-000001", "CT-000002", "CT-000003", "CT-000004"]
    assert sorted(r["body"] for r in before[1:3]) == ["<Media omitted>", "IMG-20240313-WA0001.jpg (file attached)"]
    _rebuilt(case, tmp_path)
    after = read_master(case, ["exhibit", "event_id", "body", "occurrences"]).to_pylist()
    assert [(r["exhibit"], len(r["occurrences"])) for r in after] == [
        ("CT-000001", 2), ("CT-000002", 2), ("CT-000004", 2), ("CT-000005", 1)]   # CT-000003 never given again
    assert after[1]["body"] == before[1]["body"]     # the representative copy is the same
    [carried] = [json.loads(line) for line in (case.root / "productions.jsonl").read_text().splitlines()[1:]]
    assert (carried["carried"], carried["from"], carried["to"]) == (
        [2, 3], [before[1]["event_id"], before[2]["event_id"]], [after[1]["event_id"]] * 2)
    assert main(["verify", str(case.root)]) == 0
    assert main(["report", str(case.root)]) == 0
    html = (case.report_dir / "report.html").read_text()
    assert ("(productions.jsonl, 1 production(s)); merged since by a change of the rules that find copies of one "
            "message: CT-000003 is now part of CT-000002 (an event keeps its lowest number; the others are never "
            "given again)") in html
    # a later production freezes only the new event, after the last number
    assert produce(case, "report", None).span == "CT-000005 to CT-000005"


def test_a_produced_event_keyed_anew_whose_copies_are_gone_leaves_its_number_unused(tmp_path, monkeypatch, capsys):
    other = "13/03/2024, 09:16 - Alex: IMG-20240313-WA0002.jpg (file attached)\n"
    case_dir = _case(tmp_path)
    with monkeypatch.context() as patch:
        _old_keys(patch)
        _ingest(case_dir, _write(tmp_path / "a", CHAT, TALK + MEDIA + ANSWER),
                _write(tmp_path / "b", "WhatsApp Chat with Alex.txt", other))
        produce(Case(case_dir), "report", None)
    case = Case(case_dir)
    assert [r[1:] for r in _rows(case)] == [("13/03 09:15", "we need to talk"),
                                            ("13/03 09:16", "IMG-20240313-WA0002.jpg (file attached)"),
                                            ("13/03 09:17", "IMG-20240313-WA0001.jpg (file attached)"),
                                            ("13/03 09:20", "answer me")]
    (case.staging / f"{hashlib.sha256(other.encode()).hexdigest()}.parquet").unlink()   # Alex's export is lost
    _rebuilt(case, tmp_path)
    assert [r[0] for r in _rows(case)] == ["CT-000001", "CT-000003", "CT-000004", "CT-000005"]
    assert [json.loads(line)["carried"] for line in (case.root / "productions.jsonl").read_text().splitlines()[1:]] \
        == [[3]]
    _rebuilt(case, tmp_path / "again")   # a later build looks again, finds nothing to carry, says nothing
    assert [r[0] for r in _rows(case)] == ["CT-000001", "CT-000003", "CT-000004", "CT-000005"]
    assert "Warning" not in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["no master", "master not in the manifest"])
def test_without_a_trusted_previous_master_nothing_is_carried_and_a_warning_says_so(tmp_path, monkeypatch, capsys,
                                                                                      damage):
    case = _produced_under_old_keys(tmp_path, monkeypatch, TALK + MEDIA + ANSWER)
    productions = (case.root / "productions.jsonl").read_text()
    if damage == "no master":
        case.master_file.unlink()
    else:
        manifest = case.manifest_file.read_text()
        digest = hashlib.sha256(case.master_file.read_bytes()).hexdigest()
        case.manifest_file.write_text(manifest.replace(f"{digest}  master.parquet", f"{'0' * 64}  master.parquet"))
    _rebuilt(case, tmp_path)
    assert [r[0] for r in _rows(case)] == ["CT-000001", "CT-000003", "CT-000004", "CT-000005"]
    assert (case.root / "productions.jsonl").read_text() == productions
    reason = ("there is no previous master.parquet to find their messages in" if damage == "no master" else
              "the previous master.parquet is not the one manifest.sha256 lists")
    err = re.sub(r"\s+", " ", capsys.readouterr().err)
    assert (f"Warning: 1 produced exhibit number(s) (CT-000002 first) name events this build no longer holds under "
            f"these ids, and {reason}, so their numbers could not be carried") in err


@pytest.mark.parametrize("carry", [{"carried": [2], "from": ["0" * 32], "to": ["1" * 32]},   # not its number
                                   {"carried": [2, 3], "from": ["0" * 32], "to": ["1" * 32]},
                                   {"carried": 2, "from": "0" * 32, "to": "1" * 32}])
def test_a_carry_of_a_number_its_event_does_not_hold_or_malformed_is_refused(tmp_path, monkeypatch, carry):
    case = _produced_under_old_keys(tmp_path, monkeypatch, TALK + MEDIA + ANSWER)
    path = case.root / "productions.jsonl"
    path.write_text(path.read_text() + json.dumps(carry) + "\n")
    with pytest.raises(CaseError, match="line 2 of productions.jsonl"):
        read_productions(case.root)
