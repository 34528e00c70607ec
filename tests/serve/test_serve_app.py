"""The review app through Flask's test client: the security rules (token, Host, CSRF, blobs) and
the JSON API (filters, one event, annotations, identifiers)."""

import hashlib
import json
from datetime import date, datetime, timedelta, timezone

import pytest
from conftest import make_case
from serve_helpers import listed_exhibits, reviewer_notes

from commtrail.case import Case
from commtrail.errors import UsageError
from commtrail.serve.app import create_app
from commtrail.serve.chart import MAX_BARS, weekly_bars
from commtrail.serve.queries import Filter, _caseless_run
from commtrail.serve.security import COOKIE, Secrets
from commtrail.serve.server import bind

PORT = 5123
BASE = f"http://127.0.0.1:{PORT}"
T0 = datetime(2024, 3, 4, 9, 0, tzinfo=timezone.utc)   # a Monday
PHOTO = b"\x89PNG\r\n\x1a\n fictional photo bytes"
PHOTO_SHA = hashlib.sha256(PHOTO).hexdigest()


def _msg(hours, sender, body, direction="incoming", channel="sms", **more):
    return {"ts_utc": T0 + timedelta(hours=hours), "ts_local": f"local {hours}", "channel": channel,
            "kind": "message", "direction": direction, "sender": sender, "sender_raw": sender,
            "recipients": ["+447700900999"], "body": body, **more}


RECORDS = [
    _msg(0, "+447700900123", "Where are you?"),
    _msg(1, "+447700900999", "Please stop texting me", direction="outgoing"),
    _msg(2, "+447700900123", "I saw your car", flags=["deleted"]),
    _msg(24 * 7 + 3, "+447700900555", "It's me, new number",
         attachments=[{"name": "car.png", "mime": "image/png", "size": len(PHOTO), "sha256": PHOTO_SHA}]),
    _msg(24 * 7 + 4, "wa:Jordan", "answer me", channel="whatsapp"),
]


@pytest.fixture
def case(tmp_path):
    case = make_case(tmp_path / "case", {"sms.xml": RECORDS})
    (case.blobs / PHOTO_SHA).write_bytes(PHOTO)
    return case


@pytest.fixture
def keys():
    return Secrets()


@pytest.fixture
def client(case, keys):
    """A client that holds the token cookie, as a browser does after opening the printed URL."""
    c = create_app(case, keys, PORT).test_client()
    assert c.get(f"/?token={keys.token}", base_url=BASE).status_code == 303
    return c


def _events(client, query=""):
    response = client.get(f"/api/events?{query}", base_url=BASE)
    assert response.status_code == 200, response.data
    return response.json


def _exhibits(client, query=""):
    return [e["exhibit"] for e in _events(client, query)["events"]]


def _event_id(client, exhibit):
    return next(e["event_id"] for e in _events(client)["events"] if e["exhibit"] == exhibit)


# --- security ---------------------------------------------------------------------------------

def test_every_page_and_api_without_the_token_is_refused(case, keys):
    c = create_app(case, keys, PORT).test_client()
    for path in ("/", "/api/events", "/people", "/report", f"/blobs/{PHOTO_SHA}", "/static/style.css"):
        assert c.get(path, base_url=BASE).status_code == 403, path


def test_a_wrong_token_is_refused_in_the_query_the_header_and_the_cookie(case, keys):
    c = create_app(case, keys, PORT).test_client()
    assert c.get("/?token=wrong", base_url=BASE).status_code == 403
    assert c.get("/api/events", base_url=BASE, headers={"X-Commtrail-Token": "wrong"}).status_code == 403
    c.set_cookie(COOKIE, "wrong", domain="127.0.0.1")
    assert c.get("/api/events", base_url=BASE).status_code == 403


def test_the_url_token_becomes_a_strict_http_only_cookie_and_leaves_the_address(case, keys):
    c = create_app(case, keys, PORT).test_client()
    response = c.get(f"/?party=Jordan&token={keys.token}", base_url=BASE)
    assert response.status_code == 303
    assert response.headers["Location"] == "/?party=Jordan"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE}={keys.token};")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert c.get("/?party=Jordan", base_url=BASE).status_code == 200


def test_the_header_token_alone_is_enough(case, keys):
    c = create_app(case, keys, PORT).test_client()
    response = c.get("/api/events", base_url=BASE, headers={"X-Commtrail-Token": keys.token})
    assert response.status_code == 200 and response.json["total"] == 5


def test_a_host_other_than_the_loopback_address_and_port_is_refused_even_with_the_token(case, keys):
    c = create_app(case, keys, PORT).test_client()
    header = {"X-Commtrail-Token": keys.token}
    for base in ("http://evil.example.com:5123", "http://127.0.0.1:80", "http://localhost", "http://10.0.0.1:5123"):
        assert c.get("/api/events", base_url=base, headers=header).status_code == 403, base
    assert c.get("/api/events", base_url=f"http://localhost:{PORT}", headers=header).status_code == 200


def test_a_cross_origin_post_with_only_the_cookie_is_refused_and_writes_nothing(client, case):
    event_id = _event_id(client, "CT-000001")
    headers = {"Origin": "http://evil.example.com"}
    api = client.post(f"/api/events/{event_id}/annotations", json={"star": True}, base_url=BASE, headers=headers)
    form = client.post(f"/events/{event_id}/annotate", data={"star": "1"}, base_url=BASE, headers=headers)
    assign = client.post("/people/assign", data={"identifier": "+447700900555", "party": "Jordan"},
                         base_url=BASE, headers=headers)
    report = client.post("/report", data={"only_starred": "1"}, base_url=BASE, headers=headers)
    assert [api.status_code, form.status_code, assign.status_code, report.status_code] == [403, 403, 403, 403]
    assert not (case.root / "annotations.jsonl").exists()
    assert not (case.root / "case.toml.bak").exists()
    assert not (case.root / "report" / "report.html").exists()


def test_no_cors_headers_and_a_strict_page_policy(client):
    response = client.get("/api/events", base_url=BASE, headers={"Origin": "http://evil.example.com"})
    assert not [h for h in response.headers.keys() if h.lower().startswith("access-control-")]
    page = client.get("/", base_url=BASE)
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY" and page.headers["Cache-Control"] == "no-store"


def test_blobs_are_served_by_their_hash_only(client):
    ok = client.get(f"/blobs/{PHOTO_SHA}?type=image/png", base_url=BASE)
    assert ok.status_code == 200 and ok.data == PHOTO and ok.headers["Content-Type"] == "image/png"
    assert ok.headers["Content-Security-Policy"].endswith("sandbox")
    html = client.get(f"/blobs/{PHOTO_SHA}?type=text/html", base_url=BASE)
    assert html.headers["Content-Type"] == "application/octet-stream"
    assert html.headers["Content-Disposition"].startswith("attachment")
    for path in ("/blobs/..%2Fcase.toml", "/blobs/../case.toml", "/blobs/%2e%2e%2fcase.toml",
                 f"/blobs/{PHOTO_SHA.upper()}", f"/blobs/{PHOTO_SHA}%2f..%2f..%2fcase.toml",
                 "/blobs/" + "0" * 64, "/blobs/case.toml"):
        assert client.get(path, base_url=BASE).status_code == 404, path


# --- the JSON API -----------------------------------------------------------------------------

def test_events_are_listed_in_exhibit_order_with_the_named_fields(client):
    data = _events(client, "limit=2&offset=1")
    assert data["total"] == 5
    assert [{k: e[k] for k in ("exhibit", "ts_utc", "channel", "kind", "direction", "party", "sender", "body",
                               "flags", "starred", "tags", "notes")} for e in data["events"]] == [
        {"exhibit": "CT-000002", "ts_utc": "2024-03-04T10:00:00Z", "channel": "sms", "kind": "message",
         "direction": "outgoing", "party": None, "sender": "+447700900999", "body": "Please stop texting me",
         "flags": [], "starred": False, "tags": [], "notes": ""},
        {"exhibit": "CT-000003", "ts_utc": "2024-03-04T11:00:00Z", "channel": "sms", "kind": "message",
         "direction": "incoming", "party": "Jordan", "sender": "+447700900123", "body": "I saw your car",
         "flags": ["deleted"], "starred": False, "tags": [], "notes": ""},
    ]
    assert len(data["events"][0]["event_id"]) == 32
    assert data["events"][0]["ts_case"] == "2024-03-04 10:00:00 +00:00 (GMT)"


def test_filters_by_party_channel_text_dates_identifier_and_flags(client):
    assert _exhibits(client, "party=Jordan") == ["CT-000001", "CT-000003", "CT-000005"]
    assert _exhibits(client, "party=(none)") == ["CT-000002", "CT-000004"]
    assert _exhibits(client, "channel=whatsapp") == ["CT-000005"]
    assert _exhibits(client, "direction=outgoing") == ["CT-000002"]
    assert _exhibits(client, "q=CAR") == ["CT-000003"]
    assert _exhibits(client, "party=Jordan&q=answer") == ["CT-000005"]
    assert _exhibits(client, "from=2024-03-11") == ["CT-000004", "CT-000005"]
    assert _exhibits(client, "to=2024-03-04") == ["CT-000001", "CT-000002", "CT-000003"]
    assert _exhibits(client, "identifier=%2B447700900555") == ["CT-000004"]
    assert _exhibits(client, "flags=deleted") == ["CT-000003"]
    assert _events(client, "q=nothing-like-this")["total"] == 0


def test_a_search_with_digits_or_punctuation_is_still_case_insensitive_and_literal(tmp_path, keys):
    case = make_case(tmp_path / "digits", {"sms.xml": [
        _msg(0, "+447700900123", "CALL 07700 900123 NOW"), _msg(1, "+447700900123", "call 07700 900124 now"),
        _msg(2, "+447700900123", "I am 100% sure"), _msg(3, "+447700900123", "I am 1000 sure"),
        _msg(4, "+447700900123", "see you", subject="Re: AT 21:03")]})
    c = create_app(case, keys, PORT).test_client()
    headers = {"X-Commtrail-Token": keys.token}

    def found(q):
        return [e["exhibit"] for e in c.get("/api/events", query_string={"q": q}, base_url=BASE,
                                           headers=headers).json["events"]]

    assert found("Call 07700 900123") == ["CT-000001"]
    assert found("07700 90012") == ["CT-000001", "CT-000002"]
    assert found("am 100% SURE") == ["CT-000003"]
    assert found("at 21:03") == ["CT-000005"]
    assert [_caseless_run(q) for q in ("Straße déjà", "call 07700 900123", "at 9", "21:03", "100%")] == [
        "", " 07700 900123", "", "21:03", "100%"]


def test_a_bad_filter_is_a_clear_400(client):
    response = client.get("/api/events?from=2024-13-01", base_url=BASE)
    assert response.status_code == 400
    assert response.json == {"error": "the filter from='2024-13-01' is not a date. Write it as YYYY-MM-DD."}
    assert client.get("/api/events?limit=100000", base_url=BASE).status_code == 400


def test_one_event_with_its_occurrence_and_attachment(client):
    event_id = _event_id(client, "CT-000004")
    e = client.get(f"/api/events/{event_id}", base_url=BASE).json
    assert e["body"] == "It's me, new number" and e["sender_shown"] == "+44 7700 900555"
    assert e["attachments"] == [{"name": "car.png", "mime": "image/png", "size": len(PHOTO), "sha256": PHOTO_SHA}]
    assert [(o["source_path"], o["locator"], [c["body"] for c in o["copies"]]) for o in e["occurrences"]] == [
        ("sms.xml", "line 4", ["It's me, new number"])]
    assert client.get("/api/events/" + "f" * 32, base_url=BASE).status_code == 404
    page = client.get(f"/events/{event_id}", base_url=BASE).get_data(as_text=True)
    assert f'<img src="/blobs/{PHOTO_SHA}?type=image/png"' in page and PHOTO_SHA in page


def test_annotations_need_the_header_and_then_star_tag_and_note(client, keys, case):
    event_id = _event_id(client, "CT-000003")
    url = f"/api/events/{event_id}/annotations"
    assert client.post(url, json={"star": True}, base_url=BASE).status_code == 403
    headers = {"X-Commtrail-Token": keys.token}
    response = client.post(url, json={"star": True, "tags": ["threat"], "note": "Mentions my car"},
                           base_url=BASE, headers=headers)
    assert response.status_code == 201
    assert response.json["written"]["change"] == {"star": True, "tags": ["threat"], "note": "Mentions my car"}
    assert _exhibits(client, "starred=1") == ["CT-000003"]
    assert _exhibits(client, "tag=threat") == ["CT-000003"]
    assert _exhibits(client, "tag=other") == []
    e = _events(client, "starred=1")["events"][0]
    assert (e["starred"], e["tags"], e["notes"]) == (True, ["threat"], "Mentions my car")
    bad = client.post(url, json={"stars": True}, base_url=BASE, headers=headers)
    assert bad.status_code == 400 and "stars" in bad.json["error"]
    lines = (case.root / "annotations.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["event_id"] for line in lines] == [event_id]


def test_the_page_forms_write_with_the_csrf_token(client, keys):
    event_id = _event_id(client, "CT-000001")
    response = client.post(f"/events/{event_id}/annotate", base_url=BASE,
                           data={"csrf": keys.csrf, "star": ["0", "1"], "tags": "a, b", "note": "first",
                                 "back": "/?party=Jordan"})
    assert response.status_code == 303 and response.headers["Location"] == "/?party=Jordan"
    e = _events(client, "starred=1")["events"][0]
    assert (e["exhibit"], e["starred"], e["tags"], e["notes"]) == ("CT-000001", True, ["a", "b"], "first")
    for elsewhere in ("//evil.example.com/", "/\t/evil.example.com", "/\\evil.example.com", "https://evil.example.com"):
        away = client.post(f"/events/{event_id}/annotate", base_url=BASE,
                           data={"csrf": keys.csrf, "star": "0", "back": elsewhere})
        assert away.headers["Location"] == f"/events/{event_id}", elsewhere
    assert _events(client, "starred=1")["total"] == 0


def test_identifiers_and_assigning_one_to_a_party(client, keys, case):
    rows = client.get("/api/identifiers", base_url=BASE).json["identifiers"]
    assert [(r["identifier"], r["party"], r["count"]) for r in rows][:2] == [("+447700900555", None, 1),
                                                                            ("+447700900123", "Jordan", 2)]
    headers = {"X-Commtrail-Token": keys.token}
    response = client.post("/api/identifiers/party", json={"identifier": "+447700900555", "party": "Jordan"},
                           base_url=BASE, headers=headers)
    assert response.status_code == 200
    assert response.json["message"].startswith("+44 7700 900555 is now listed for Jordan under phones")
    assert (case.root / "case.toml.bak").exists()
    assert _exhibits(client, "party=Jordan") == ["CT-000001", "CT-000003", "CT-000004", "CT-000005"]
    again = client.post("/api/identifiers/party", json={"identifier": "+447700900999", "party": "Jordan"},
                        base_url=BASE, headers=headers)
    assert again.status_code == 400 and "owner" in again.json["error"]


def test_the_timeline_page_has_the_weekly_chart_linking_to_each_week(client):
    page = client.get("/?party=Jordan", base_url=BASE).get_data(as_text=True)
    assert 'href="/?party=Jordan&amp;from=2024-03-04&amp;to=2024-03-10"' in page
    assert 'aria-label="Week of 2024-03-11: 1 event"' in page
    assert "Events 1–3 of 3" in page


def test_a_port_in_use_is_a_usage_error(case):
    server, _ = bind(Case(case.root))
    try:
        with pytest.raises(UsageError, match=f"port {server.port}"):
            bind(Case(case.root), server.port)
    finally:
        server.server_close()


def test_the_report_page_writes_the_report_of_the_starred_events(client, keys, case):
    starred = _event_id(client, "CT-000003")
    client.post(f"/api/events/{starred}/annotations", json={"star": True, "note": "About my car"},
                base_url=BASE, headers={"X-Commtrail-Token": keys.token})
    response = client.post("/report", data={"csrf": keys.csrf, "only_starred": "1", "tags": ""}, base_url=BASE)
    assert response.status_code == 303
    page = client.get(response.headers["Location"], base_url=BASE).get_data(as_text=True)
    assert (f"Wrote report.html and report.pdf in {case.report_dir} (as commtrail report --only starred)."
            in page)
    html = (case.report_dir / "report.html").read_text(encoding="utf-8")
    assert listed_exhibits(html) == ["CT-000003"]
    assert reviewer_notes(html) == [("CT-000003", "About my car")]
    assert client.get("/report/report.html", base_url=BASE).get_data(as_text=True) == html
    nothing = client.post("/report", data={"csrf": keys.csrf, "tags": "no-such-tag"}, base_url=BASE)
    assert nothing.status_code == 400 and "no event of this case is chosen by --tag no-such-tag" in nothing.get_data(as_text=True)


def test_possibly_deleted_events_and_every_copy_of_an_event(tmp_path, keys):
    earlier = [_msg(0, "+447700900123", "hi"), _msg(1, "+447700900123", "answer me")]
    later = [_msg(0, "+447700900123", "hi"), _msg(2, "+447700900123", "new one")]
    case = make_case(tmp_path / "two", {"sms-1.xml": earlier, "sms-2.xml": later}, fmt="smsbr-sms")
    c = create_app(case, keys, PORT).test_client()
    headers = {"X-Commtrail-Token": keys.token}
    gone = c.get("/api/events?flags=possibly_deleted", base_url=BASE, headers=headers).json["events"]
    assert [(e["exhibit"], e["body"], e["flags"]) for e in gone] == [("CT-000002", "answer me", ["possibly_deleted"])]
    detail = c.get(f"/api/events/{gone[0]['event_id']}", base_url=BASE, headers=headers).json
    assert detail["possibly_deleted"] == [{"earlier_path": "sms-1.xml", "later_path": "sms-2.xml"}]
    first = c.get("/api/events?limit=1", base_url=BASE, headers=headers).json["events"][0]
    copies = c.get(f"/api/events/{first['event_id']}", base_url=BASE, headers=headers).json["occurrences"]
    assert sorted((o["source_path"], o["locator"], o["copies"][0]["body"]) for o in copies) == [
        ("sms-1.xml", "line 1", "hi"), ("sms-2.xml", "line 1", "hi")]


def test_over_five_years_a_bar_stands_for_several_weeks():
    monday = date(2020, 1, 6)
    weeks = [(monday, 2), (monday + timedelta(weeks=1), 3), (monday + timedelta(weeks=2 * MAX_BARS - 1), 1)]
    bars = weekly_bars(weeks, Filter(party="Jordan"))
    assert [(b.label, b.href) for b in bars] == [
        ("2020-01-06 to 2020-01-19: 5 events", "/?party=Jordan&from=2020-01-06&to=2020-01-19"),
        ("2029-12-10 to 2029-12-23: 1 event", "/?party=Jordan&from=2029-12-10&to=2029-12-23")]
    assert bars[-1].x == round((MAX_BARS - 1) * 1000 / MAX_BARS, 2)


def test_going_to_an_exhibit_by_its_number(client):
    event_id = _event_id(client, "CT-000004")
    for number in ("CT-000004", "ct-000004", "4", " 000004 "):
        response = client.get(f"/exhibit?number={number}", base_url=BASE)
        assert response.status_code == 303 and response.headers["Location"] == f"/events/{event_id}", number
    missing = client.get("/exhibit?number=CT-999999", base_url=BASE)
    assert missing.status_code == 404 and "No exhibit CT-999999 in this case" in missing.get_data(as_text=True)
