"""The user's working files: the incident-log template init writes can be filled in and ingested
where it stands; editing it or case.toml is reported by verify as an edit, never a failure."""

from __future__ import annotations

from commtrail.cli import main

ROW = "2024-03-14,21:30,Outside work,Jordan waited by my car,,no,,,Frightened,photo1.jpg\n"


def test_fill_in_the_template_ingest_it_edit_it_and_verify(tmp_path, capsys):
    case = tmp_path / "case"
    assert main(["init", str(case)]) == 0
    log = case / "incident-log" / "incidents.csv"
    with open(log, "a", encoding="utf-8", newline="") as f:
        f.write(ROW)
    (case / "incident-log" / "photo1.jpg").write_bytes(b"\xff\xd8\xff\xe0 fictional photo")
    capsys.readouterr()
    assert main(["ingest", str(case), str(log)]) == 0
    out = capsys.readouterr().out
    assert "ingested" in out and "master.parquet: 1 events." in out
    assert main(["verify", str(case)]) == 0
    capsys.readouterr()

    # the user goes on working: a new row, a new photo, an edited title
    with open(log, "a", encoding="utf-8", newline="") as f:
        f.write(ROW.replace("2024-03-14", "2024-03-15").replace("photo1", "photo2"))
    (case / "incident-log" / "photo2.jpg").write_bytes(b"\xff\xd8\xff\xe0 another")
    toml = case / "case.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('title = "case"', 'title = "Smith"'), encoding="utf-8")
    assert main(["verify", str(case)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:3] == [
        "edited: case.toml (changed; your working file, not evidence)",
        "edited: incident-log/incidents.csv (changed; your working file, not evidence)",
        "edited: incident-log/photo2.jpg (added; your working file, not evidence)",
    ]
    assert lines[3].startswith("OK: ")

    # evidence is still evidence: a changed master fails, and so does a stray file in the case
    (case / "stray.txt").write_text("x", encoding="utf-8")
    assert main(["verify", str(case)]) == 1
    assert "extra: stray.txt" in capsys.readouterr().out


def test_only_the_incident_log_folder_of_a_case_is_an_input(tmp_path, capsys):
    case = tmp_path / "case"
    assert main(["init", str(case)]) == 0
    capsys.readouterr()
    assert main(["ingest", str(case), str(case / "case.toml")]) == 1
    assert "the case's own files are not inputs" in capsys.readouterr().err


def test_a_removed_case_toml_is_missing_a_removed_log_is_an_edit(tmp_path, capsys):
    from commtrail.case import Case
    from commtrail.outputs.manifest import verify

    case = tmp_path / "case"
    assert main(["init", str(case)]) == 0
    with open(case / "incident-log" / "incidents.csv", "a", encoding="utf-8", newline="") as f:
        f.write(ROW.replace(",photo1.jpg", ","))
    assert main(["ingest", str(case), str(case / "incident-log" / "incidents.csv")]) == 0
    opened = Case(case)
    (case / "incident-log" / "incidents.csv").unlink()
    result = verify(opened)
    assert result.ok and result.edited == [("incident-log/incidents.csv", "removed")]
    (case / "case.toml").unlink()
    result = verify(opened)
    assert not result.ok and result.missing == ["case.toml"]


def test_init_says_where_the_incident_log_is(tmp_path, capsys):
    case = tmp_path / "case"
    assert main(["init", str(case)]) == 0
    assert capsys.readouterr().out.replace("\n", " ").endswith(
        f"An incident log to fill in is in {case / 'incident-log' / 'incidents.csv'} (ingest it from there). ")
