"""Run one benchmark step in a fresh Python process; report wall time and that process's peak RSS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
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
