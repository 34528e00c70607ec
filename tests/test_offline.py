"""commtrail never opens a network connection: the whole demo, the report and every export run
with sockets disabled."""

import re
import socket

import pytest

from commtrail.cli import main


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("commtrail tried to open a network connection")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket.socket, "sendto", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "gethostbyname", refuse)


def test_demo_report_and_exports_run_offline(tmp_path, no_network, capsys):
    code = main(["demo", str(tmp_path / "demo")])
    out = capsys.readouterr().out
    assert code == 0
    assert "master.parquet: 393 events." in out   # 371 + the 16 of the iPhone backup + its 3 new WhatsApp messages + 3 screenshots
    assert "│ Possibly deleted between backups    │   2 │" in out
    assert "│ Only in a screenshot (in no source) │   1 │" in out
    assert "verify: OK" in out
    made = tmp_path / "demo" / "case"
    assert out.splitlines()[-10:-2] == [                      # the closing lines give full paths
        f"The sample case is in {made}", f"  master evidence file: {made}/master.parquet",
        f"  {made}/report/exports/master.csv", f"  {made}/report/exports/master.xlsx",
        f"  {made}/report/exports/master.jsonl", f"  {made}/report/report.html", f"  {made}/report/report.pdf",
        f"  {made}/report/charts"]
    assert re.fullmatch(r"  court bundle \(BagIt, \d+ files; verify: OK, \d+ files checked\): "
                        + re.escape(str(tmp_path / "demo" / "bundle")), out.splitlines()[-2])
    assert out.splitlines()[-1] == "Open report.html (in a web browser) or report.pdf to read the report."
    case = str(tmp_path / "demo" / "case")
    assert main(["report", case]) == 0
    for fmt in ("csv", "xlsx", "jsonl"):
        assert main(["export", case, "--format", fmt, "--party", "Jordan"]) == 0
    assert main(["verify", case]) == 0
    assert (tmp_path / "demo" / "case" / "report" / "report.pdf").exists()
    html = (tmp_path / "demo" / "case" / "report" / "report.html").read_text(encoding="utf-8")
    evidence = html[html.index('<section id="evidence">'):html.index('<section id="identifiers">')]
    assert evidence.count('src="data:image/jpeg;base64,') == 3 and evidence.count("Only in this screenshot") == 1
    assert "no source holds (only in a screenshot; each is listed with the text read by OCR in the section on " \
           "screenshots): 1 in the whole case, 1 of them in screenshots listed in this report." in html
