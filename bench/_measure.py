"""Run one benchmark step in a fresh Python process; report wall time and that process's peak RSS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time


def measure(module: str, function: str, *args: str) -> tuple[float, float, str]:
    """Call ``module.function(*args)`` in a child process; (seconds, peak RSS in MB, its stdout)."""
    code = (f"import sys, json; from {module} import {function} as f; "
            f"r = f(*sys.argv[1:]); print(json.dumps(r))")
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{module}.{function} failed with exit code {proc.returncode}")
    return seconds, usage.ru_maxrss / 1024, out.strip().splitlines()[-1] if out.strip() else ""


def run_command(command: list[str], cwd: str | None = None) -> tuple[float, float, int, str]:
    """Run a command; (seconds, peak RSS in MB of it and the children it waited for, exit code,
    its standard error)."""
    with tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        return seconds, usage.ru_maxrss / 1024, proc.returncode, err.read()


def load(result: str) -> object:
    return json.loads(result) if result else None
