"""Charts of outputs/charts.py on a realistic small fictional case: files, determinism, CLI."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from conftest import CASE_TOML, make_case

from commtrail.cli import main
from commtrail.errors import UsageError
from commtrail.outputs.charts import write_charts

TOML = CASE_TOML + """
[[event]]
date = "2024-03-15T09:00"
kind = "blocked"
note = "Blocked both numbers"
"""

OWNER = "+447700900999"
TEXTS = ["Where are you?", "Answer me", "Why are you ignoring me", "I just want to talk", "Call me",
         "Please", "You can't do this", "I'm outside", "I know where you work", "Fine.", "ok", "??"]


def records(seed: int = 7) -> list[dict]:
    """Fictional records of Jordan (two listed numbers, then an unlisted one) from January to April 2024."""
    rng = np.random.default_rng(seed)
    start = datetime(2024, 1, 8, tzinfo=timezone.utc)
    out = []
    for day in range(100):
        when = start + timedelta(days=day)
        rate = 1.5 if when < datetime(2024, 3, 1, 18, 30, tzinfo=timezone.utc) else 6.0
        if datetime(2024, 3, 15, 9, tzinfo=timezone.utc) <= when:
            rate = 4.0
        for _ in range(rng.poisson(rate)):
            t = when + timedelta(hours=int(rng.choice(24, p=_hours())), minutes=int(rng.integers(60)),
                                 seconds=int(rng.integers(60)))
            late = t >= datetime(2024, 3, 17, tzinfo=timezone.utc)
            number = "+447700900789" if late and rng.random() < 0.7 else \
                ("+447700900123" if rng.random() < 0.8 else "+447700900456")
            channel = rng.choice(["sms", "whatsapp", "call"], p=[0.4, 0.35, 0.25])
            if late and channel == "whatsapp":
                channel = "sms"
            if channel == "call":
                kind = rng.choice(["missed", "rejected", "incoming", "blocked"], p=[0.5, 0.2, 0.15, 0.15])
                out.append({"ts_utc": t, "channel": "call", "kind": str(kind), "direction": "incoming",
                            "sender": number, "recipients": [OWNER],
                            "duration_s": int(rng.integers(20, 400)) if kind == "incoming" else 0})
                # repeated calls
                for k in range(int(rng.poisson(1.0))):
                    t = t + timedelta(minutes=int(rng.integers(1, 9)))
                    out.append({"ts_utc": t, "channel": "call", "kind": "missed", "direction": "incoming",
                                "sender": number, "recipients": [OWNER], "duration_s": 0})
            elif channel == "whatsapp":
                out.append({"ts_utc": t.replace(second=0), "channel": "whatsapp", "kind": "message",
                            "direction": "incoming", "sender": "wa:Jordan", "conversation": "Jordan",
                            "ts_precision": "min", "body": str(rng.choice(TEXTS))})
            else:
                out.append({"ts_utc": t, "channel": "sms", "kind": "message", "direction": "incoming",
                            "sender": number, "recipients": [OWNER], "body": str(rng.choice(TEXTS))})
            if t < datetime(2024, 3, 1, tzinfo=timezone.utc) and rng.random() < 0.5:
                out.append({"ts_utc": t + timedelta(minutes=int(rng.integers(2, 300))), "channel": "sms",
                            "kind": "message", "direction": "outgoing", "sender": OWNER,
                            "recipients": ["+447700900123"], "body": "ok"})
    out.sort(key=lambda r: r["ts_utc"])
    return out


def _hours() -> np.ndarray:
    w = np.array([3, 2, 1, 1, 1, 1, 1, 2, 3, 3, 3, 3, 4, 3, 3, 3, 4, 5, 6, 7, 8, 8, 7, 5], float)
    return w / w.sum()


NAMES = ["weekly", "daily", "hours", "cumulative", "identifiers", "calls"]


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    return make_case(tmp_path_factory.mktemp("charts") / "case", {"phone.xml": records()}, toml=TOML)


def digest(paths):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def test_charts_are_written_and_identical_on_rerun(case):
    first = write_charts(case, party="Jordan", workers=1)
    assert [p.name for p in first] == [f"jordan-{n}.{ext}" for n in NAMES for ext in ("png", "svg")]
    assert all(p.parent == case.report_dir / "charts" for p in first)
    png, svg = first[0].read_bytes(), first[1].read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and b"Software" not in png and b"tEXt" not in png
    assert svg.startswith(b"<?xml") and b"<dc:date>" not in svg and b"Matplotlib v" not in svg
    assert (first[0].stat().st_mode & 0o777) == 0o600
    before = digest(first)
    again = write_charts(case, party="Jordan", workers=2)      # drawn in two processes: the same bytes
    assert digest(again) == before


def test_stale_chart_files_are_removed(case):
    folder = case.report_dir / "charts"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "unknown-daily.png").write_bytes(b"old")       # drawn by an earlier version
    (folder / "notes.txt").write_text("kept")
    write_charts(case, party="(unknown)", workers=1)
    assert not (folder / "unknown-daily.png").exists()
    assert (folder / "notes.txt").exists() and (folder / "unknown-weekly.svg").exists()


def test_nothing_to_chart(tmp_path, capsys):
    empty = make_case(tmp_path / "empty", {}, toml=TOML)
    assert write_charts(empty) == []
    assert main(["chart", str(empty.root)]) == 0
    assert capsys.readouterr().out == "No contacts to chart.\n"


def test_unknown_party_names_the_parties(case):
    with pytest.raises(UsageError) as err:
        write_charts(case, party="Jamie")
    assert "The parties are: Jordan;" in err.value.render()


def test_cli_chart(case, capsys):
    assert main(["chart", str(case.root)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"18 chart files in {case.report_dir / 'charts'}:"
    assert out[1:3] == ["  jordan-weekly.png", "  jordan-weekly.svg"]
    assert [line.strip() for line in out if "unknown" in line] == [
        f"unknown-{name}.{ext}" for name in ("weekly", "identifiers", "calls") for ext in ("png", "svg")]
    assert main(["chart", str(case.root), "--party", "Jamie"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Error: there is no party called 'Jamie'. The parties are: Jordan;")
