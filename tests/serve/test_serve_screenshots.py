"""The review app joined with the screenshot links: a screenshot drawn by the test, read by OCR and
linked at ingest (evidence_media.screenshot_case), then shown through Flask's test client."""

import hashlib

import pytest
from conftest import make_case
from evidence_media import screenshot_case

from commtrail.case import Case
from commtrail.serve.app import create_app
from commtrail.serve.security import Secrets

PORT = 5124
BASE = f"http://127.0.0.1:{PORT}"
SHOT_FLAGS = "flags=in_screenshot", "flags=only_in_screenshot"


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory):
    return screenshot_case(tmp_path_factory.mktemp("serve-shots"))


@pytest.fixture(scope="module")
def client(case_dir):
    keys = Secrets()
    c = create_app(Case(case_dir), keys, PORT).test_client()
    assert c.get(f"/?token={keys.token}", base_url=BASE).status_code == 303
    return c


def _get(client, path):
    response = client.get(path, base_url=BASE)
    assert response.status_code == 200, response.data
    return response


def _events(client, query=""):
    return _get(client, f"/api/events?{query}").json["events"]


@pytest.fixture(scope="module")
def ids(client):
    """Event ids by exhibit: CT-000001..5 are Jordan's chat, CT-000006 the screenshot."""
    return {e["exhibit"]: e["event_id"] for e in _events(client)}


def test_the_flags_say_which_messages_a_screenshot_shows_and_which_screenshot_holds_one_only_in_it(client):
    assert [(e["exhibit"], e["body"], e["flags"]) for e in _events(client)] == [
        ("CT-000001", "you saw my car outside", []),
        ("CT-000002", "ok", []),
        ("CT-000003", "where are you tonight \U0001F621", ["in_screenshot"]),
        ("CT-000004", "I know you are not at your mum's house", ["in_screenshot"]),
        ("CT-000005", "answer me or I come round", ["in_screenshot"]),
        ("CT-000006", None, ["ocr", "only_in_screenshot"]),
    ]


def test_the_screenshot_flags_filter_the_api_and_the_timeline(client):
    assert [e["exhibit"] for e in _events(client, SHOT_FLAGS[0])] == ["CT-000003", "CT-000004", "CT-000005"]
    assert [e["exhibit"] for e in _events(client, SHOT_FLAGS[1])] == ["CT-000006"]
    assert _events(client, "&".join(SHOT_FLAGS)) == []
    assert [e["exhibit"] for e in _events(client, "flags=in_screenshot&q=answer")] == ["CT-000005"]
    page = _get(client, "/?flags=only_in_screenshot").get_data(as_text=True)
    assert '<p class="count" id="count">Events 1–1 of 1</p>' in page
    assert page.count('<tr class="event"') == 1 and ">CT-000006</a>" in page
    assert '<input type="checkbox" name="flags" value="only_in_screenshot" checked> only in screenshot' in page
    assert '<input type="checkbox" name="flags" value="in_screenshot" > in screenshot' in page


def test_a_message_lists_the_screenshots_showing_it_with_a_thumbnail(client, case_dir, ids):
    picture = next(case_dir.joinpath("blobs").iterdir()).read_bytes()
    sha = hashlib.sha256(picture).hexdigest()
    detail = _get(client, f"/api/events/{ids['CT-000004']}").json
    assert detail["screenshots"] == [{
        "screenshot": ids["CT-000006"], "exhibit": "CT-000006", "line": 6, "lines": 2,
        "ocr_text": "| know you are not at your\nmum's house 21:03", "score": 100.0,
        "image": {"name": "Screenshot_20240315-213000_WhatsApp.png", "mime": "image/png", "size": len(picture),
                  "sha256": sha}}]
    assert detail["screenshot_lines"] == [] and detail["flags"] == ["in_screenshot"]
    assert _get(client, f"/api/events/{ids['CT-000002']}").json["screenshots"] == []
    page = _get(client, f"/events/{ids['CT-000004']}").get_data(as_text=True)
    assert "<h2>Shown in screenshots (1)</h2>" in page
    assert (f'<a href="/events/{ids["CT-000006"]}"><img class="thumb" src="/blobs/{sha}?type=image/png" '
            f'alt="Screenshot CT-000006"></a>') in page
    assert f'<a href="/events/{ids["CT-000006"]}">CT-000006</a>' in page
    assert "lines 6–7, match score 100.0" in page
    thumb = _get(client, f"/blobs/{sha}?type=image/png")
    assert thumb.data == picture and thumb.headers["Content-Type"] == "image/png"


def test_a_screenshot_lists_the_exhibits_it_shows_and_the_line_only_in_it_as_read_by_ocr(client, ids):
    detail = _get(client, f"/api/events/{ids['CT-000006']}").json
    assert detail["screenshots"] == []
    assert detail["screenshot_lines"] == [
        {"line": 5, "lines": 1, "ocr_text": "where are you tonight 21:02", "event_id": ids["CT-000003"],
         "exhibit": "CT-000003", "score": 100.0},
        {"line": 6, "lines": 2, "ocr_text": "| know you are not at your\nmum's house 21:03",
         "event_id": ids["CT-000004"], "exhibit": "CT-000004", "score": 100.0},
        {"line": 8, "lines": 1, "ocr_text": "you saw my car outside 21:05", "event_id": None, "exhibit": None,
         "score": None},
        {"line": 9, "lines": 1, "ocr_text": "answer me or | come round 21:07", "event_id": ids["CT-000005"],
         "exhibit": "CT-000005", "score": 100.0},
    ]
    page = _get(client, f"/events/{ids['CT-000006']}").get_data(as_text=True)
    text = page[page.index("<h2>Text</h2>"):page.index("<h2>What this screenshot shows</h2>")]
    assert "<pre" not in text and "This record holds no text: what OCR read from the image is below." in text
    shows = page[page.index("<h2>What this screenshot shows</h2>"):page.index("<h2>Reviewer's annotations</h2>")]
    assert [f'<a href="/events/{ids[x]}">{x}</a>' in shows for x in ("CT-000003", "CT-000004", "CT-000005")] == [True] * 3
    assert ('<li class="only"><strong>Only in this screenshot</strong>\n'
            '    <span class="meta">line 8, text read by OCR (no event matches it)</span>\n'
            '    <pre class="verbatim">you saw my car outside 21:05</pre></li>') in shows
    assert shows.count('<li class="only">') == 1 and shows.count('<li class="shows">') == 3


def test_a_case_without_screenshots_has_no_screenshot_flags_and_lists_none(tmp_path):
    case = make_case(tmp_path / "case", {"sms.xml": [
        {"ts_utc": None, "channel": "sms", "kind": "message", "direction": "incoming", "sender": "+447700900123",
         "body": "no screenshot of me"}]})
    keys = Secrets()
    c = create_app(case, keys, PORT).test_client()
    headers = {"X-Commtrail-Token": keys.token}
    for query in SHOT_FLAGS:
        assert c.get(f"/api/events?{query}", base_url=BASE, headers=headers).json["total"] == 0
    [event] = c.get("/api/events", base_url=BASE, headers=headers).json["events"]
    detail = c.get(f"/api/events/{event['event_id']}", base_url=BASE, headers=headers).json
    assert (event["flags"], detail["screenshots"], detail["screenshot_lines"]) == ([], [], [])
    page = c.get("/", base_url=BASE, headers=headers).get_data(as_text=True)
    assert 'value="possibly_deleted"' in page and "in_screenshot" not in page


def test_a_text_search_finds_a_screenshot_by_the_text_ocr_read_in_it(client):
    # OCR read "where are you tonight 21:02" and "you saw my car outside 21:05" as lines of their own
    # (a message wrapped over two lines is two lines of OCR text: a search across the wrap misses it)
    assert [e["exhibit"] for e in _events(client, "q=WHERE ARE YOU TONIGHT")] == ["CT-000003", "CT-000006"]
    assert [e["exhibit"] for e in _events(client, "q=21:05")] == ["CT-000006"]
    assert [e["exhibit"] for e in _events(client, "q=car outside")] == ["CT-000001", "CT-000006"]
    assert [e["exhibit"] for e in _events(client, "q=not at your mum")] == ["CT-000004"]
