"""End to end in a real headless Chromium (Playwright driving the system's /usr/bin/chromium)
against a real ``commtrail serve`` process: filter, star, note, assign a number, then the report
of the starred events."""

import json
import os
import re
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import make_case
from serve_helpers import listed_exhibits, reviewer_notes

from commtrail.outputs.manifest import write_manifest

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2024, 3, 4, 9, 0, tzinfo=timezone.utc)

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="the system Chromium (/usr/bin/chromium) is not installed: "
                                       "apt-get install chromium (make test and .ci/run do)")


def _msg(hours, sender, body, direction="incoming"):
    return {"ts_utc": T0 + timedelta(hours=hours), "channel": "sms", "kind": "message", "direction": direction,
            "sender": sender, "sender_raw": sender, "recipients": ["+447700900999"], "body": body}


RECORDS = [
    _msg(0, "+447700900123", "Where are you?"),
    _msg(1, "+447700900123", "I saw your car outside the gym"),
    _msg(2, "+447700900999", "Please stop texting me", direction="outgoing"),
    _msg(30, "+447700900555", "New number. I saw the car again"),
    _msg(31, "+447700900555", "Answer me"),
]


ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def _commtrail(*args):
    return subprocess.run([sys.executable, "-m", "commtrail.cli", *args], cwd=ROOT, env=ENV,
                          capture_output=True, text=True)


@pytest.fixture
def server(tmp_path):
    """A ``commtrail serve`` process on a small case: (case folder, printed URL); stopped with Ctrl-C."""
    case = make_case(tmp_path / "case", {"sms.xml": RECORDS})
    write_manifest(case)
    proc = subprocess.Popen([sys.executable, "-m", "commtrail.cli", "serve", str(case.root), "--no-browser"],
                            cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline().rstrip("\n")
    try:
        assert re.fullmatch(r"Open http://127\.0\.0\.1:\d+/\?token=[A-Za-z0-9_-]{43}", line), (line, proc.stderr.read())
        yield case.root, line.removeprefix("Open "), proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=20)
        proc.stdout.close()
        proc.stderr.close()


@pytest.fixture
def page():
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM))
        try:
            yield browser.new_page()
        finally:
            browser.close()


def _exhibits(page):
    return page.locator("tr.event td.exhibit a").all_inner_texts()


def test_filter_star_note_assign_and_report_the_starred(server, page, tmp_path):
    case, url, proc = server
    port = re.search(r":(\d+)/", url)[1]
    page.goto(url)
    assert page.url == f"http://127.0.0.1:{port}/"          # the token left the address for the cookie
    assert _exhibits(page) == ["CT-000001", "CT-000002", "CT-000003", "CT-000004", "CT-000005"]
    page.keyboard.press("j")
    page.keyboard.press("j")
    assert page.evaluate("document.activeElement.textContent") == "CT-000002"

    page.get_by_label("Party").select_option("Jordan")
    page.get_by_label("Text").fill("car")
    page.get_by_role("button", name="Filter").click()
    assert page.url == f"http://127.0.0.1:{port}/?party=Jordan&q=car"
    assert _exhibits(page) == ["CT-000002"]
    assert page.locator("#count").inner_text() == "Events 1–1 of 1"

    page.get_by_role("button", name="Star CT-000002").click()
    assert page.url == f"http://127.0.0.1:{port}/?party=Jordan&q=car"
    assert page.get_by_role("button", name="Unstar CT-000002").get_attribute("aria-pressed") == "true"

    page.get_by_role("link", name="CT-000002").click()
    assert page.locator("pre.verbatim").first.inner_text() == "I saw your car outside the gym"
    page.get_by_label("Note").fill("He was outside my gym that evening")
    page.get_by_label("Tags (comma-separated)").fill("stalking")
    page.get_by_role("button", name="Save annotations").click()
    assert page.get_by_label("Note").input_value() == "He was outside my gym that evening"
    assert page.get_by_label("Starred").is_checked()

    page.get_by_role("link", name="People").click()
    row = page.locator("tr", has=page.locator("code", has_text="+447700900555"))
    row.get_by_label("Party").select_option("Jordan")
    row.get_by_role("button", name="Link +447700900555").click()
    assert page.get_by_role("status").inner_text() == (
        "+44 7700 900555 is now listed for Jordan under phones in case.toml (the previous version is "
        "case.toml.bak); the master's parties were re-resolved.")
    page.goto(f"http://127.0.0.1:{port}/?party=Jordan")
    assert _exhibits(page) == ["CT-000001", "CT-000002", "CT-000004", "CT-000005"]

    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=20) == 0
    lines = [json.loads(x) for x in (case / "annotations.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [line["change"] for line in lines] == [
        {"star": True}, {"tags": ["stalking"], "note": "He was outside my gym that evening"}]

    done = _commtrail("report", str(case), "--only", "starred")
    assert done.returncode == 0, done.stderr
    html = (case / "report" / "report.html").read_text(encoding="utf-8")
    assert listed_exhibits(html) == ["CT-000002"]
    assert reviewer_notes(html) == [("CT-000002", "He was outside my gym that evening")]
    checked = _commtrail("verify", str(case))      # the annotations and the edit of case.toml are recorded
    assert checked.returncode == 0, checked.stdout + checked.stderr
