"""Benchmark: the review app (``commtrail serve``) on a case of 1,000,000 events.

Builds the case once (the 1,000,000-message WhatsApp group chat of ``bench.whatsapp``, ingested
with ``commtrail ingest``; kept in WORKDIR for the next run), starts ``commtrail serve`` as a child
process and asks it, 20 times each, for a filtered page of 100 events (party and channel, at an
offset half-way through its events), for a text search (letters: ILIKE over every body), for a
number search (digits: a plain substring test first, then ILIKE) and for the timeline page itself. The time is the
server's own (its ``Server-Timing`` header: from the request read to the answer ready), median of
20; the client's wall time is given beside it. Peak memory is the server's peak RSS (``VmHWM``).
Goals: a page under 200 ms, a text search under 1 s, the server under 500 MB.

    python -m bench.serve --workdir /tmp/bench-serve [--scale 1.0]
"""

from __future__ import annotations

import http.client
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import whatsapp
from bench._table import Result, standalone, within

REPEAT = 20
PAGE_BUDGET_S, SEARCH_BUDGET_S, PEAK_LIMIT_MB = 0.2, 1.0, 500.0
CASE_TOML = """
[case]
title = "Bench case: one million events"
timezone = "Europe/London"
phone_region = "GB"
date_order = "DMY"

[owner]
name = "Sam Carter"
whatsapp_names = ["Sam Carter"]

[[party]]
name = "Jordan"
whatsapp_names = ["Jordan Blake"]

[[party]]
name = "Alex"
whatsapp_names = ["Alex Morgan"]
"""


def _commtrail(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "commtrail.cli", *args], capture_output=True, text=True)


def build_case(workdir: Path, scale: float) -> tuple[Path, float]:
    """The case (built once, then reused); the seconds its build took (0 when reused)."""
    case = workdir / f"case-{scale:g}"
    if (case / "master.parquet").exists():
        return case, 0.0
    export = whatsapp.generate(workdir / "inputs", scale)["android"]
    start = time.perf_counter()
    if case.exists():
        import shutil
        shutil.rmtree(case)
    for step in (("init", str(case)), None, ("ingest", str(case), str(export))):
        if step is None:
            (case / "case.toml").write_text(CASE_TOML, encoding="utf-8")
            continue
        done = _commtrail(*step)
        if done.returncode != 0:
            raise RuntimeError(f"commtrail {step[0]} failed: {done.stderr.strip()[-2000:]}")
    return case, time.perf_counter() - start


class Server:
    """``commtrail serve`` in a child process, asked over HTTP with the token header."""

    def __init__(self, case: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "commtrail.cli", "serve", str(case), "--no-browser"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        found = re.fullmatch(r"Open (http://127\.0\.0\.1:(\d+)/)\?token=(\S+)", line)
        if not found:
            self.proc.kill()
            raise RuntimeError(f"commtrail serve printed {line!r}: {self.proc.stderr.read()[-2000:]}")
        self.port, self.token = int(found[2]), found[3]

    def get(self, path: str) -> tuple[float, float, bytes]:
        """(server seconds from Server-Timing, client wall seconds, body) of one GET."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        start = time.perf_counter()
        conn.request("GET", path, headers={"X-Commtrail-Token": self.token})
        response = conn.getresponse()
        body = response.read()
        wall = time.perf_counter() - start
        conn.close()
        if response.status != 200:
            raise RuntimeError(f"GET {path} answered {response.status}: {body[:500]!r}")
        server = float(re.search(r"dur=([\d.]+)", response.headers["Server-Timing"])[1]) / 1000
        return server, wall, body

    def times(self, path: str) -> tuple[float, float, float, bytes]:
        """Medians of REPEAT requests (server, wall) after one warm-up request, the server's mean CPU
        time (user+sys) per request, and the last body."""
        self.get(path)
        cpu = self.cpu_s()
        runs = [self.get(path) for _ in range(REPEAT)]
        cpu = (self.cpu_s() - cpu) / REPEAT
        return (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs), cpu, runs[-1][2])

    def peak_mb(self) -> float:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+) kB", status)[1]) / 1024

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> int:
        self.proc.send_signal(2)   # Ctrl-C
        return self.proc.wait(timeout=30)


def run(workdir: Path, scale: float = 1.0) -> Result:
    """Build (or reuse) the case, start the server, time the page, the search and the HTML page."""
    import json
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    case, built_s = build_case(workdir, scale)
    server = Server(case)
    try:
        total = json.loads(server.get("/api/events?limit=1")[2])["total"]
        chosen = "party=Jordan&channel=whatsapp"
        middle = json.loads(server.get(f"/api/events?{chosen}&limit=1")[2])["total"] // 2 // 100 * 100
        page_path = f"/api/events?{chosen}&limit=100&offset={middle}"
        page_s, page_wall, page_cpu, body = server.times(page_path)
        page = json.loads(body)
        search_path = "/api/events?q=Stra%C3%9Fe%20d%C3%A9j%C3%A0&limit=100"   # "straße déjà", any case
        search_s, search_wall, search_cpu, body = server.times(search_path)
        found = json.loads(body)["total"]
        number_path = "/api/events?q=2021&limit=100"
        number_s, number_wall, number_cpu, body = server.times(number_path)
        numbers = json.loads(body)["total"]
        html_s, html_wall, html_cpu, _ = server.times(f"/?party=Jordan&channel=whatsapp&offset={middle}")
        peak, cpu = server.peak_mb(), server.cpu_s()
    finally:
        status = server.stop()
    lines = [f"serve bench: load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
             f"{total:,} events in the case" + (f" (built in {built_s:.0f} s)" if built_s else " (reused)"),
             f"  filtered page ({page_path}): {len(page['events'])} of {page['total']:,} events; "
             f"server {page_s * 1000:.0f} ms, client {page_wall * 1000:.0f} ms (median of {REPEAT}); "
             f"server CPU {page_cpu * 1000:.0f} ms a request",
             f"  text search ({search_path}): {found:,} events; server {search_s * 1000:.0f} ms, "
             f"client {search_wall * 1000:.0f} ms (median of {REPEAT}); server CPU {search_cpu * 1000:.0f} ms a request",
             f"  number search ({number_path}): {numbers:,} events; server {number_s * 1000:.0f} ms, "
             f"client {number_wall * 1000:.0f} ms (median of {REPEAT}); server CPU {number_cpu * 1000:.0f} ms a request",
             f"  timeline page (HTML, weekly chart, party filter): server {html_s * 1000:.0f} ms, "
             f"client {html_wall * 1000:.0f} ms (median of {REPEAT}); server CPU {html_cpu * 1000:.0f} ms a request",
             f"  server: peak RSS {peak:.0f} MB, {cpu:.1f} s CPU (user+sys) for {4 * (REPEAT + 1) + 2} requests; "
             f"exit status after Ctrl-C {status}; bench process peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"]
    ok = status == 0 and len(page["events"]) == 100 and found > 0
    rows = [within("serve: filtered page of 100 (1M events)", page_s, "budget 200 ms", PAGE_BUDGET_S, 1.0,
                   peak_mb=peak, peak_limit_mb=PEAK_LIMIT_MB, ok=ok),
            within("serve: text search (1M events)", search_s, "budget 1 s", SEARCH_BUDGET_S, 1.0,
                   peak_mb=peak, peak_limit_mb=PEAK_LIMIT_MB, ok=ok)]
    return Result(lines, rows)


if __name__ == "__main__":
    standalone(__doc__, run, Path("bench/out/serve"))


__all__ = ["build_case", "run"]
