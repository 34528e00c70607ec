"""The benchmark table: rows in the direction of their goal, and the runner's one summary table."""

from __future__ import annotations

import re
import sys

from bench import run as bench_run
from bench._table import speedup, table, within


def test_rows_take_the_ratio_in_the_direction_of_their_goal():
    fast = speedup("Telegram 10 records", 2.0, "json.load + one pass", 1.5, 0.5, peak_mb=190.0)
    slow = within("bundle 100 events", 9.0, "cp -r + sha256sum", 2.0, 3, peak_mb=280.0)
    heavy = speedup("ios sms.db 10 records", 1.0, "bare sqlite3 SELECT", 1.0, 0.5, peak_mb=310.0, peak_limit_mb=300)
    assert (fast.ratio, fast.goal_text, fast.met) == (0.75, "baseline/ours >= 0.5", True)
    assert (slow.ratio, slow.goal_text, slow.met) == (4.5, "ours/baseline <= 3", False)
    assert (heavy.ratio, heavy.met) == (1.0, False)
    assert table([fast, slow, heavy]).splitlines()[2:] == [
        "Telegram 10 records      2.00  json.load + one pass        1.50   0.75  baseline/ours >= 0.5      190  -"
        "          met",
        "bundle 100 events        9.00  cp -r + sha256sum           2.00   4.50  ours/baseline <= 3        280  -"
        "          NOT met",
        "ios sms.db 10 records    1.00  bare sqlite3 SELECT         1.00   1.00  baseline/ours >= 0.5      310  < 300"
        "      NOT met",
        "1 of 3 goals met",
    ]


def test_runner_puts_platforms_and_ios_into_its_one_table(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("bench._phone_db.ROUNDS", 1)   # (the android test runs three)
    monkeypatch.setattr(sys, "argv", ["bench.run", "--scale", "0.00001", "--only", "platforms,ios",
                                      "--workdir", str(tmp_path)])
    bench_run.main()
    text = (tmp_path / "results.txt").read_text()
    summary = text[text.index("Summary"):].splitlines()
    cells = [re.split(r"\s{2,}", line) for line in summary[3:7]]
    assert [(c[0], c[2], c[5], c[7]) for c in cells] == [
        ("Telegram 10 records", "json.load + one pass", "baseline/ours >= 0.5", "-"),
        ("Messenger 10 records", "json.load + one pass", "baseline/ours >= 0.5", "-"),
        ("ios sms.db 10 records", "bare sqlite3 SELECT", "baseline/ours >= 0.5", "< 300"),
        ("ios CallHistory.storedata 2 records", "bare sqlite3 SELECT", "baseline/ours >= 0.5", "< 300")]
    assert summary[7].endswith(" of 4 goals met")
    assert capsys.readouterr().out.endswith("\n".join(summary) + "\n")


def test_runner_runs_the_android_benchmark(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["bench.run", "--scale", "0.00001", "--only", "android", "--workdir", str(tmp_path)])
    bench_run.main()
    text = (tmp_path / "results.txt").read_text()
    assert "android mmssms.db: 10 records, 0 rejects; median of 3 runs in turn (baseline [" in text
    summary = text[text.index("Summary"):].splitlines()
    cells = re.split(r"\s{2,}", summary[3])
    assert (cells[0], cells[2], cells[5], cells[7]) == (
        "android mmssms.db 10 records", "bare sqlite3 SELECT", "baseline/ours >= 0.5", "< 300")
    assert summary[4].endswith(" of 1 goals met")
    capsys.readouterr()
