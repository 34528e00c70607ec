"""Oversized e-mail headers: a message with a 1 MB and one with a 10 MB header field, each parsed
(by the ``eml`` parser, as ingest runs it) in under a second.

Two shapes per size: a ``To:`` with tens of thousands of addresses folded one per line, and a
``Content-Type`` with thousands of parameters on one line. Before header fields were capped
(``commtrail.parsers.email.mime.HEADER_PARSE_MAX``) a 1.2 MB ``To:`` took 80 s and a 1.5 MB
``Content-Type`` 25 s. Each parse runs in a fresh process; the time is the parse alone.

    python -m bench.email_headers --workdir /tmp/bench-headers --scale 1.0
"""

from __future__ import annotations

import pathlib
import time

from bench._measure import load, measure
from bench._table import Result, standalone, within

SIZES_MB = (1, 10)
LIMIT_S = 1.0


def message(shape: str, size: int) -> bytes:
    """A fictional message whose ``shape`` header field (``to`` or ``content-type``) has about ``size`` bytes."""
    head = b"From: Jordan K <jordan.k@example.com>\nDate: Mon, 01 Jan 2024 09:30:00 +0000\nSubject: many\n"
    if shape == "to":
        one = len(b'"Person 000000" <p000000@example.com>,\n ')
        items = ",\n ".join(f'"Person {i:06d}" <p{i:06d}@example.com>' for i in range(max(1, size // one)))
        return head + b"To: " + items.encode() + b"\n\nbody\n"
    one = len(b'; p000000="v000000"')
    params = "".join(f'; p{i:06d}="v{i:06d}"' for i in range(max(1, size // one)))
    return head + b"To: sam@example.org\nContent-Type: text/plain" + params.encode() + b'; charset="utf-8"\n\nbody\n'


def parse_file(path: str) -> dict:
    """Run in the child: parse one message file, return the seconds and what came out."""
    import io

    from commtrail.parsers.base import ParseContext, collect
    from commtrail.parsers.registry import get

    data = pathlib.Path(path).read_bytes()
    parser = get("eml")
    ctx = ParseContext(source_sha256="0" * 64, source_path=path, parser_label=parser.label)
    start = time.perf_counter()
    table, rejects = collect(parser.parse(io.BytesIO(data), ctx), ctx)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "records": table.num_rows, "rejects": len(rejects),
            "recipients": len(table["recipients"][0].as_py() or []) if table.num_rows else 0,
            "flags": table["flags"][0].as_py() if table.num_rows else []}


def run(workdir: pathlib.Path, scale: float = 1.0) -> Result:
    """Write the messages (sizes times ``scale``), parse each in a child process, return lines and rows."""
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    lines, rows, ok = [], [], True
    for size_mb in SIZES_MB:
        for shape in ("to", "content-type"):
            path = workdir / f"{shape}-{size_mb}mb.eml"
            path.write_bytes(message(shape, int(size_mb * scale * 1_000_000)))
            _, peak_mb, out = measure("bench.email_headers", "parse_file", str(path))
            r = load(out)
            met = r["seconds"] < LIMIT_S and r["records"] == 1
            ok = ok and met
            lines.append(f"email headers: {shape} header of {path.stat().st_size / 1e6:.1f} MB parsed in "
                         f"{r['seconds']:.2f} s ({r['records']} record, {r['rejects']} rejects, "
                         f"{r['recipients']} recipients parsed, flags {r['flags']}, peak {peak_mb:.0f} MB): "
                         f"{'met' if met else 'NOT met'} (goal < {LIMIT_S:.0f} s)")
            rows.append(within(f"email header {shape} {path.stat().st_size / 1e6:.3g} MB", r["seconds"], "budget",
                               LIMIT_S, 1, peak_mb=peak_mb, ok=r["records"] == 1))
            path.unlink()
    lines.append(f"email headers: {'met' if ok else 'NOT met'}")
    return Result(lines, rows)


if __name__ == "__main__":
    standalone(__doc__, run, pathlib.Path("bench/out/email_headers"))
