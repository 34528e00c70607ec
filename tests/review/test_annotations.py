"""annotations.jsonl: exact lines, fold and undo, validation, the hash chain, the selection."""

import hashlib
import json
from datetime import datetime, timedelta, timezone

import pytest
from conftest import make_case

from commtrail.outputs.manifest import read_manifest, sha256_file, write_manifest
from commtrail.review import annotations as ann
from commtrail.review.annotations import (ANNOTATIONS_FILE, Annotation, AnnotationError, append_annotation,
                                          check_annotations, load_annotations, select_events)
from commtrail.timeline.master import read_master

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=timezone.utc)


def _sms(n):
    return {"ts_utc": T0 + timedelta(hours=n), "channel": "sms", "kind": "message", "direction": "incoming",
            "sender": "+447700900123", "recipients": ["+447700900999"], "body": f"message {n}"}


@pytest.fixture
def case(tmp_path, monkeypatch):
    case = make_case(tmp_path / "c", {"sms.xml": [_sms(n) for n in range(4)]})
    write_manifest(case)
    clock = iter(datetime(2026, 3, 1, 10, 0, s, 250000, tzinfo=timezone.utc) for s in range(60))
    monkeypatch.setattr(ann, "_now", lambda: next(clock))
    return case


def _ids(case):
    return read_master(case, ["event_id"])["event_id"].to_pylist()


def test_each_change_is_one_exact_line_chained_to_the_one_before(case):
    e1, e2 = _ids(case)[:2]
    first = append_annotation(case, e1, {"star": True})
    second = append_annotation(case, e2, {"tags": ["threat", " Work ", "threat"], "note": "Sent at 3 a.m. — café"})
    data = (case.root / ANNOTATIONS_FILE).read_bytes()
    line1 = ('{"change":{"star":true},"event_id":"%s","prev":"%s","written":"2026-03-01T10:00:00Z"}\n'
             % (e1, hashlib.sha256(b"").hexdigest())).encode()
    line2 = ('{"change":{"note":"Sent at 3 a.m. — café","tags":["Work","threat"]},"event_id":"%s","prev":"%s",'
             '"written":"2026-03-01T10:00:01Z"}\n' % (e2, hashlib.sha256(line1).hexdigest())).encode("utf-8")
    assert data == line1 + line2
    assert first == json.loads(line1) and second == json.loads(line2)
    # the manifest follows each append
    assert read_manifest(case)[ANNOTATIONS_FILE] == sha256_file(case.root / ANNOTATIONS_FILE)
    assert check_annotations(case) == []


def test_the_state_is_the_fold_of_the_lines_and_an_undo_is_a_new_line(case):
    e1, e2, e3 = _ids(case)[:3]
    append_annotation(case, e1, {"star": True, "note": "first"})
    append_annotation(case, e2, {"tags": ["a", "b"]})
    append_annotation(case, e1, {"tags": ["b"]})
    append_annotation(case, e1, {"star": False})        # undo the star; the note and tags stay
    append_annotation(case, e3, {"star": True})
    append_annotation(case, e2, {"tags": []})           # undo the tags
    assert load_annotations(case) == {
        e1: Annotation(e1, False, ("b",), "first", "2026-03-01T10:00:03Z"),
        e2: Annotation(e2, False, (), "", "2026-03-01T10:00:05Z"),
        e3: Annotation(e3, True, (), "", "2026-03-01T10:00:04Z"),
    }
    assert len((case.root / ANNOTATIONS_FILE).read_bytes().splitlines()) == 6
    assert select_events(case, True, []) == {e3}
    assert select_events(case, False, ["b"]) == {e1}
    assert select_events(case, True, ["b", "zzz"]) == {e1, e3}     # starred OR any asked tag
    assert select_events(case, False, []) == set()


@pytest.mark.parametrize("change, message", [
    ({"stars": True}, "unknown key(s) stars; a change may hold only star, tags and note."),
    ({"star": "yes"}, "star must be true or false, not str."),
    ({"tags": "threat"}, "tags must be a list of texts (the full new set), not str."),
    ({"tags": ["ok", 3]}, "a tag must be text, not int."),
    ({"tags": ["two\nlines"]}, "the tag 'two\\nlines' is empty or holds a line break or control character."),
    ({"note": None}, "note must be text, not NoneType."),
    ({}, "a change must be a non-empty mapping of star, tags and/or note."),
])
def test_a_wrong_change_is_refused_and_nothing_is_written(case, change, message):
    with pytest.raises(AnnotationError) as err:
        append_annotation(case, _ids(case)[0], change)
    assert err.value.message == message
    assert not (case.root / ANNOTATIONS_FILE).exists()


def test_an_event_not_in_the_master_is_refused(case):
    with pytest.raises(AnnotationError) as err:
        append_annotation(case, "0" * 32, {"star": True})
    assert err.value.render() == (f"{ANNOTATIONS_FILE}: there is no event '{'0' * 32}' in this case's "
                                  "master.parquet. Nothing was written; correct the change and try again.")
    assert err.value.exit_code == 2
    assert not (case.root / ANNOTATIONS_FILE).exists()


def _three_lines(case):
    e1, e2, e3 = _ids(case)[:3]
    for event_id in (e1, e2, e3):
        append_annotation(case, event_id, {"star": True})
    path = case.root / ANNOTATIONS_FILE
    return path, path.read_bytes().splitlines(keepends=True)


def test_an_edited_line_breaks_the_chain_at_the_next_line(case):
    path, lines = _three_lines(case)
    path.write_bytes(lines[0] + lines[1].replace(b'"star":true', b'"star":false') + lines[2])
    assert check_annotations(case) == [f"{ANNOTATIONS_FILE} line 3: the hash chain is broken (its prev does not "
                                       "match line 2, which was edited, or lines before it were removed)"]


def test_a_removed_line_breaks_the_chain(case):
    path, lines = _three_lines(case)
    path.write_bytes(lines[1] + lines[2])
    assert check_annotations(case) == [f"{ANNOTATIONS_FILE} line 1: the hash chain is broken (it is not the "
                                       "first line written: lines before it were removed)"]
    path.write_bytes(lines[0] + lines[2])
    assert check_annotations(case) == [f"{ANNOTATIONS_FILE} line 2: the hash chain is broken (its prev does not "
                                       "match line 1, which was edited, or lines before it were removed)"]


def test_an_unparsable_line_is_named_and_skipped_by_the_fold(case):
    path, lines = _three_lines(case)
    path.write_bytes(lines[0] + b"not json\n" + lines[1] + lines[2])
    assert check_annotations(case) == [
        f"{ANNOTATIONS_FILE} line 2 is not an annotation record",
        f"{ANNOTATIONS_FILE} line 3: the hash chain is broken (its prev does not match line 2, which was "
        "edited, or lines before it were removed)"]
    assert len(load_annotations(case)) == 3


def test_a_cut_off_last_line_is_named_and_refuses_further_appends(case):
    path, lines = _three_lines(case)
    path.write_bytes(lines[0] + lines[1] + lines[2][:20])
    assert check_annotations(case) == [f"{ANNOTATIONS_FILE} line 3 is incomplete (a write was cut off)"]
    with pytest.raises(AnnotationError, match=r"the last line \(3\) is incomplete"):
        append_annotation(case, _ids(case)[0], {"star": False})
    assert path.read_bytes() == lines[0] + lines[1] + lines[2][:20]


def test_verify_checks_the_file_and_its_chain(case, capsys):
    from commtrail.cli import main
    from commtrail.outputs.manifest import verify
    path, lines = _three_lines(case)
    result = verify(case)
    assert result.ok and result.checked == len(read_manifest(case))
    path.write_bytes(lines[0] + lines[1].replace(b'"star":true', b'"star":false') + lines[2])
    assert main(["verify", str(case.root)]) == 1
    out = capsys.readouterr().out
    assert f"changed: {ANNOTATIONS_FILE}\n" in out
    assert (f"problem: {ANNOTATIONS_FILE} line 3: the hash chain is broken (its prev does not match line 2, "
            "which was edited, or lines before it were removed)") in out.replace("\n", " ")


def test_verify_names_lines_another_program_added_or_a_changed_last_line(case):
    from commtrail.outputs.manifest import verify
    path, lines = _three_lines(case)
    extra = ann._encode({"change": {"star": True}, "event_id": _ids(case)[3],
                         "prev": hashlib.sha256(lines[2]).hexdigest(), "written": "2026-03-01T11:00:00Z"})
    path.write_bytes(b"".join(lines) + extra)
    result = verify(case)
    assert result.changed == [ANNOTATIONS_FILE]
    assert result.problems == [f"{ANNOTATIONS_FILE} line 4 was added after commtrail last wrote it "
                               "(by another program)"]
    path.write_bytes(lines[0] + lines[1] + lines[2].replace(b'"star":true', b'"star":false'))
    assert verify(case).problems == [f"{ANNOTATIONS_FILE} line 3, the last, was changed after commtrail wrote "
                                     "it, or lines after it were removed"]
    path.write_bytes(lines[0] + lines[1])
    assert verify(case).problems == [f"{ANNOTATIONS_FILE} line 2, the last, was changed after commtrail wrote "
                                     "it, or lines after it were removed"]


def test_once_the_cut_off_line_is_deleted_the_file_is_as_the_manifest_recorded_it(case):
    from commtrail.outputs.manifest import verify
    path, lines = _three_lines(case)
    path.write_bytes(b"".join(lines) + lines[2][:20])          # an append cut off before its manifest entry
    assert verify(case).changed == [ANNOTATIONS_FILE]
    path.write_bytes(b"".join(lines))
    assert verify(case).ok
    append_annotation(case, _ids(case)[0], {"note": "carriage\rreturn"})
    assert check_annotations(case) == [] and load_annotations(case)[_ids(case)[0]].note == "carriage\rreturn"
