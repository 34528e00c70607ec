"""Run one benchmark step in a fresh Python process; report wall time and that process's peak RSS."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import tempfile
import threading
import time


def measure(module: str, function: str, *args: str) -> tuple[float, float, str]:
    """Call ``module.function(*args)`` in a child process; (seconds, peak RSS in MB, the last line of
    its stdout: the function's result as JSON)."""
    script = (f"import sys, json; from {module} import {function} as f; "
              f"r = f(*sys.argv[1:]); print(json.dumps(r))")
    seconds, peak_mb, status, out, err = run_command([sys.executable, "-c", script, *args])
    if status != 0:
        raise RuntimeError(f"{module}.{function} failed with exit code {status}: {err.strip()[-2000:]}")
    return seconds, peak_mb, out.strip().splitlines()[-1] if out.strip() else ""


def run_command(command: list[str], cwd: str | None = None) -> tuple[float, float, int, str, str]:
    """Run a command; (seconds, peak RSS in MB of it and the children it waited for, exit code,
    its standard output, its standard error)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        return seconds, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status), out.read(), err.read()


def load(result: str) -> object:
    return json.loads(result) if result else None


class TreeMemory:
    """The peak memory of this process and its child processes together, sampled every
    ``interval`` seconds on a thread (Linux ``/proc``; reading a process's PSS costs a few ms, so
    sampling more often would slow what is measured): the sum of their PSS (proportional set
    size: a page the processes share counts once in all, split between them), and the sum of
    their RSS (shared pages counted in each: an upper bound). ``with TreeMemory() as m: ...``,
    then ``m.peak_pss_mb``, ``m.peak_rss_mb``."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self.peak_pss_mb = 0.0
        self.peak_rss_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        pids = [os.getpid(), *_children(os.getpid())]
        pss = sum(_status_kb(f"/proc/{pid}/smaps_rollup", "Pss:") for pid in pids)
        rss = sum(_status_kb(f"/proc/{pid}/status", "VmRSS:") for pid in pids)
        self.peak_pss_mb = max(self.peak_pss_mb, pss / 1024)
        self.peak_rss_mb = max(self.peak_rss_mb, rss / 1024)


def _children(pid: int) -> list[int]:
    found = []
    for path in glob.glob(f"/proc/{pid}/task/*/children"):
        try:
            with open(path) as f:
                found += [int(p) for p in f.read().split()]
        except OSError:  # the thread ended
            pass
    return found


def _status_kb(path: str, key: str) -> int:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:  # the process ended
        pass
    return 0
