"""The ingest summary on the console: fits an 80-column terminal, names inputs by file name."""

import shutil

from conftest import FIXTURES

from commtrail.cli import main


def test_ingest_summary_fits_80_columns(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "80")
    folder = tmp_path / "Private" / "phone-backups" / "Samsung Galaxy S9 (old phone)"
    (folder / "calls").mkdir(parents=True)
    shutil.copy(FIXTURES / "smsbr" / "calls.xml", folder / "calls" / "calls-20240415090000-backup-from-old-phone.xml")
    shutil.copy(FIXTURES / "smsbr" / "sms-mms.xml", folder / "sms-20240415090000.xml")
    case = tmp_path / "case"
    assert main(["init", str(case), "--timezone", "Europe/London", "--region", "GB"]) == 0
    capsys.readouterr()
    assert main(["ingest", str(case), str(folder)]) == 0
    out = capsys.readouterr().out.splitlines()
    table = out[out.index("Ingest summary"):next(i for i, line in enumerate(out) if line.startswith("Warning:"))]
    assert [line.rstrip() for line in table] == [
        "Ingest summary",
        "input                 status    format       records  rejects  repairs  warnings",
        "sms-20240415090000.x  ingested  smsbr-sms          7        1        2         1",
        "ml",
        "calls-20240415090000  ingested  smsbr-calls       10        1",
        "-backup-from-old-pho",
        "ne.xml",
        "calls/",
    ]
    assert max(len(line) for line in table) == 80
