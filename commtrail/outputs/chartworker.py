"""A chart-drawing worker process: ``python -m commtrail.outputs.chartworker``.

It reads jobs from stdin and answers on stdout, both as pickles: ``(index, ChartData, chart name,
file stem)`` in, ``(index, [written paths] or None, error text)`` out; ``None`` in ends it. It
imports the drawing code only (matplotlib and numpy), not the analysis, so it starts quickly,
and it never imports the caller's main module (as a multiprocessing worker would).
"""

from __future__ import annotations

import pickle
import sys
import traceback


def serve(source=None, sink=None) -> None:
    source = source or sys.stdin.buffer
    sink = sink or sys.stdout.buffer
    from commtrail.outputs.drawing import _warm_up, render
    _warm_up()
    while True:
        try:
            job = pickle.load(source)
        except EOFError:
            return
        if job is None:
            return
        index, data, name, stem = job
        try:
            answer = (index, [str(p) for p in render(data, name, stem)], "")
        except Exception:  # noqa: BLE001 - reported to the caller, which draws the chart itself
            answer = (index, None, traceback.format_exc())
        pickle.dump(answer, sink, protocol=pickle.HIGHEST_PROTOCOL)
        sink.flush()


if __name__ == "__main__":
    serve()
