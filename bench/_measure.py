"""Run one benchmark step in a fresh Python process; report wall time and that process's peak RSS."""

from __future__ import annotations

import json
import os
import resource
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


def in_child(module: str, step: str, *args: str) -> dict:
    """Run ``bench.<module>``'s ``_child_baseline`` or ``_child_ours`` (``step``: baseline or ours)
    on ``args`` in a fresh interpreter, its process tree sampled every 0.25 s. Its result dict, with
    ``peak_mb`` (its own peak RSS, see :func:`own_peak_mb`), ``part_peak_mb`` and ``part_cpu`` (the
    peak RSS and the CPU seconds of the processes it waited for)
    and ``tree_pss_mb`` / ``tree_rss_mb`` (the peak PSS and RSS sums of its process tree), in MB."""
    code = (f"import json, resource, sys; from bench.{module} import _child_baseline, _child_ours; "
            "from bench._measure import own_peak_mb; "
            "f = {'baseline': _child_baseline, 'ours': _child_ours}[sys.argv[1]]; r = f(*sys.argv[2:]); "
            "r['peak_mb'] = own_peak_mb(); "
            "part = resource.getrusage(resource.RUSAGE_CHILDREN); "
            "r['part_peak_mb'] = part.ru_maxrss / 1024; r['part_cpu'] = part.ru_utime + part.ru_stime; "
            "print(json.dumps(r))")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    run = run_sampled([sys.executable, "-c", code, step, *args], cwd=root, interval=0.25)
    if run["returncode"] != 0:
        raise RuntimeError(f"the {step} measurement failed with exit status {run['returncode']}")
    result = json.loads(run["stdout"].strip().splitlines()[-1])
    result["tree_pss_mb"], result["tree_rss_mb"] = run["peak_pss"] / 2**20, run["peak_rss"] / 2**20
    return result


def own_peak_mb() -> float:
    """This process's peak RSS in MB since it started its program: ``VmHWM`` of its address space.
    Not ``ru_maxrss``, which Linux carries over an exec: a child started by a parent that had grown
    (the benchmark runner after an earlier benchmark) would report the parent's peak as its own."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants (Linux ``/proc``)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def tree_memory(pids: list[int]) -> tuple[int, int]:
    """(sum of RSS, sum of PSS) in bytes of these processes. PSS counts a page that processes
    share once in all (split between them): its sum is what the processes hold together; the sum
    of RSS counts shared pages in each (an upper bound)."""
    rss = pss = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
                for line in f:
                    if line.startswith(b"Rss:"):
                        rss += int(line.split()[1]) * 1024
                    elif line.startswith(b"Pss:"):
                        pss += int(line.split()[1]) * 1024
        except OSError:
            continue
    return rss, pss


def run_sampled(command: list[str], cwd: str | None = None, interval: float = 0.05) -> dict:
    """Run a command, sampling the memory of its process tree every ``interval`` seconds (reading
    a process's PSS costs a few ms of CPU, so sampling often slows what is measured a little).
    Returns wall seconds, CPU seconds of the tree (the processes it waited for), peak RSS and PSS
    sums in bytes, the most processes seen, the exit code and standard output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryFile("w+") as out:  # a file, not a pipe: a long output must not block the command
        start = time.perf_counter()
        proc = subprocess.Popen(command, cwd=cwd, stdout=out, text=True)
        peak_rss = peak_pss = processes = 0
        while proc.poll() is None:
            pids = process_tree(proc.pid)
            processes = max(processes, len(pids))
            rss, pss = tree_memory(pids)
            peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
            time.sleep(interval)
        wall = time.perf_counter() - start
        out.seek(0)
        stdout = out.read()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu, "peak_rss": peak_rss, "peak_pss": peak_pss, "processes": processes,
            "returncode": proc.returncode, "stdout": stdout}
