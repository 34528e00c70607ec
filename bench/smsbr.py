"""Benchmark of the SMS Backup & Restore parsers (smsbr-sms, smsbr-calls).

Generates, in a work directory (never committed):

* ``sms-bench.xml``: about 1 GB at scale 1 — about half of the bytes base64 MMS media, the rest
  ``<sms>`` with realistic bodies (lengths, line breaks, apostrophes, ``&amp;``, accented letters,
  emoji written as UTF-16 surrogate-half references as the app does, a rare control character);
* ``calls-bench.xml``: 1,000,000 ``<call>`` at scale 1;
* a "clean twin" of the sms file, identical except that every surrogate pair is written as one
  valid reference and every forbidden reference as ``&#65533;``: bare ``lxml.etree.iterparse``
  refuses the original (that is the whole point of the repair), so the baseline runs on the twin
  (the calls file is valid XML as it is).

and measures, each in a fresh child process (peak RSS from its ``getrusage``):

* baseline: ``lxml.etree.iterparse`` over the twin, ``end`` events, ``elem.clear()`` (as the task
  defines it; its root keeps every emptied element, so it slows down and grows with the file), and
  the same deleting each finished record from the root (flat memory: the fairer floor);
* ours: the registered parser's ``parse()`` drained, every batch written to Parquet, media to
  a blob store (what ingest does). A big file is parsed in two processes (see
  ``commtrail/parsers/smsbr/split.py``): its CPU time is that of both, its peak memory the
  peak of both together, sampled (PSS: pages the two share counted once).

``run(workdir, scale)`` returns result lines with the speed ratio (baseline time / our time:
1.0 = as fast as bare iterparse; the goal is >= 0.5) and peak memory.
"""

from __future__ import annotations

import argparse
import base64
import random
import shutil
import time
from pathlib import Path

from bench._measure import in_child
from bench._table import Result, Row, speedup

SMS_BYTES = 1_000_000_000
CALLS = 1_000_000
SEED = 20240301

WORDS = ("i you the to and a it is that of in me my for be on have not this so do what just "
         "know no with your at can was but are we if all get like don't up go out about want "
         "time now see one come back there think when then call why been how tell did really "
         "still need going please stop leave alone again told said never ever answer phone "
         "home tonight tomorrow work later sorry ok okay yes fine where are you outside waiting "
         "message reply talk meet love miss hate angry car door window kids school money keys "
         "police friend mum dad sister brother weekend morning evening night late early today").split()
ACCENTED = ["café", "naïve", "déjà vu", "jalapeño", "façade", "it’s", "don’t", "“fine”", "…", "£20", "€5"]
EMOJI = [0x1F600, 0x1F602, 0x1F621, 0x1F62D, 0x1F44D, 0x1F64F, 0x2764, 0x1F525, 0x1F494, 0x1F4F7,
         0x1F697, 0x1F3E0, 0x1F60A, 0x1F620, 0x1F631]
FIRST = ["Jordan", "Alex", "Casey", "Sam", "Robin", "Charlie", "Taylor", "Morgan", "Jamie", "Riley",
         "Avery", "Quinn", "Drew", "Jess", "Lee", "Kim", "Pat", "Chris", "Dana", "Eli"]
LAST = ["Example", "Sample", "Test", "Fictional", "Invented", "Madeup", "Placeholder", "Demo"]


def _surrogates(code: int) -> tuple[str, str]:
    """(as the app writes it, the clean twin's spelling)."""
    if code < 0x10000:
        return f"&#{code};", f"&#{code};"
    v = code - 0x10000
    return f"&#{0xD800 + (v >> 10)};&#{0xDC00 + (v & 0x3FF)};", f"&#{code};"


class _Text:
    """Realistic message bodies, each in the app's spelling and the clean twin's."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def body(self) -> tuple[str, str]:
        rng = self.rng
        n = max(1, min(150, int(rng.lognormvariate(2.3, 0.8))))
        words = [rng.choice(WORDS) for _ in range(n)]
        raw, clean = [], []
        for i, w in enumerate(words):
            roll = rng.random()
            if roll < 0.02:
                w = rng.choice(ACCENTED)
            elif roll < 0.025:
                w = w + " &amp;"
            elif roll < 0.03:
                w = "&quot;" + w + "&quot;"
            raw.append(w)
            clean.append(w)
            if rng.random() < 0.015:
                raw.append("&#10;")
                clean.append("&#10;")
        if rng.random() < 0.18:  # emoji, 1-3, usually at the end
            for _ in range(rng.choice((1, 1, 1, 2, 3))):
                a, b = _surrogates(rng.choice(EMOJI))
                raw.append(a)
                clean.append(b)
        if rng.random() < 0.0005:  # a stray control character
            raw.append("&#27;")
            clean.append("&#65533;")
        return " ".join(raw), " ".join(clean)


def _readable(ms: int) -> str:
    return time.strftime("%-d %b %Y %H:%M:%S", time.gmtime(ms // 1000))


def _people(rng: random.Random, n: int) -> list[tuple[str, str]]:
    out = []
    for i in range(n):
        if i % 10 == 9:
            number = f"+1 (202) 555-01{i % 100:02d}"
        elif i % 3 == 0:
            number = f"07700 900{i % 1000:03d}"
        else:
            number = f"+447700900{i % 1000:03d}"
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}" if i % 7 else "(Unknown)"
        out.append((number, name))
    return out


def generate_sms(path: Path, twin: Path, target_bytes: int, seed: int = SEED) -> dict:
    """Write an SMS Backup & Restore ``<smses>`` file of about ``target_bytes`` and its clean twin."""
    rng = random.Random(seed)
    text = _Text(rng)
    people = _people(rng, 300)
    date = 1_609_459_200_000  # 2021-01-01
    head = ("<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>\n"
            "<!--File Created By SMS Backup & Restore v10.20.002 on 01/03/2024 09:00:00-->\n"
            '<?xml-stylesheet type="text/xsl" href="sms.xsl"?>\n'
            '<smses count="{count:>12}" backup_set="6f1c2f0e-0000-4000-8000-00000000b001" '
            'backup_date="1709283600000" type="full">\n')
    counts = {"sms": 0, "mms": 0, "media_bytes": 0}
    written = media = 0
    with open(path, "wb") as out, open(twin, "wb") as out2:
        first = head.format(count=0).encode()
        out.write(first)
        out2.write(first)
        written = len(first)
        while written < target_bytes:
            date += int(rng.expovariate(1 / 240_000)) + 1
            number, name = rng.choice(people)
            if media < written * 0.5 and rng.random() < 0.02:
                raw, clean, size = _mms(rng, text, date, number, name, people)
                media += size
                counts["mms"] += 1
            else:
                raw, clean = _sms(rng, text, date, number, name)
                counts["sms"] += 1
            out.write(raw)
            out2.write(clean)
            written += len(raw)
        tail = b"</smses>\n"
        out.write(tail)
        out2.write(tail)
        total = counts["sms"] + counts["mms"]
        for f in (out, out2):
            f.seek(0)
            f.write(head.format(count=total).encode())
    counts["bytes"] = path.stat().st_size
    counts["media_bytes"] = media
    return counts


def _sms(rng: random.Random, text: _Text, date: int, number: str, name: str) -> tuple[bytes, bytes]:
    kind = rng.choices(("1", "2", "3", "5"), (55, 43, 1, 1))[0]
    raw, clean = text.body()
    sent = date - rng.randint(500, 9000) if kind == "1" else 0
    center = '"+447700900000"' if kind == "1" else '"null"'
    head = (f'  <sms protocol="0" address="{number}" date="{date}" type="{kind}" subject="null" body="')
    rest = (f'" toa="null" sc_toa="null" service_center={center} read="1" status="-1" locked="0" '
            f'date_sent="{sent}" sub_id="1" readable_date="{_readable(date)}" contact_name="{name}" />\n')
    return (head + raw + rest).encode(), (head + clean + rest).encode()


def _mms(rng: random.Random, text: _Text, date: int, number: str, name: str, people) -> tuple[bytes, bytes, int]:
    box = rng.choice(("1", "1", "2"))
    group = rng.random() < 0.2
    others = [number] + ([p for p, _ in rng.sample(people, 2)] if group else [])
    size = int(min(1_000_000, max(8_000, rng.lognormvariate(11.6, 0.7))))
    media = base64.b64encode(rng.randbytes(size)).decode()
    raw_text, clean_text = text.body()
    addrs = ([(number if box == "1" else "insert-address-token", "137")]
             + [(p, "151") for p in (others if box == "2" else ["+447700900999"] + others[1:])])
    addr_xml = "".join(f'      <addr address="{a}" type="{t}" charset="106" />\n' for a, t in addrs)
    head = (f'  <mms date="{date}" rr="null" sub="null" ct_t="application/vnd.wap.multipart.related" '
            f'read_status="null" seen="1" msg_box="{box}" address="{"~".join(others)}" sub_cs="null" '
            f'resp_st="null" retr_st="null" d_tm="null" text_only="0" exp="null" locked="0" '
            f'm_id="mid{date}@example.com" st="null" retr_txt_cs="null" retr_txt="null" '
            f'creator="com.google.android.apps.messaging" date_sent="{date // 1000 - 3}" read="1" '
            f'm_size="{size}" rpt_a="null" ct_cls="null" pri="null" sub_id="1" tr_id="null" '
            f'resp_txt="null" ct_l="null" m_cls="personal" d_rpt="129" v="18" '
            f'm_type="{"132" if box == "1" else "128"}" readable_date="{_readable(date)}" '
            f'contact_name="{name}">\n    <parts>\n'
            '      <part seq="-1" ct="application/smil" name="null" chset="null" cd="null" fn="null" '
            'cid="&lt;smil&gt;" cl="smil.xml" ctt_s="null" ctt_t="null" text="&lt;smil&gt;&lt;body&gt;'
            '&lt;par dur=&quot;5000ms&quot;&gt;&lt;img src=&quot;image000000.jpg&quot;/&gt;&lt;/par&gt;'
            '&lt;/body&gt;&lt;/smil&gt;" />\n'
            f'      <part seq="0" ct="image/jpeg" name="image000000.jpg" chset="null" cd="null" fn="null" '
            f'cid="&lt;image000000&gt;" cl="image000000.jpg" ctt_s="null" ctt_t="null" text="null" data="{media}" />\n'
            '      <part seq="0" ct="text/plain" name="null" chset="106" cd="null" fn="null" '
            'cid="&lt;text000001&gt;" cl="text000001.txt" ctt_s="null" ctt_t="null" text="')
    tail = f'" />\n    </parts>\n    <addrs>\n{addr_xml}    </addrs>\n  </mms>\n'
    return (head + raw_text + tail).encode(), (head + clean_text + tail).encode(), len(media)


def generate_calls(path: Path, calls: int, seed: int = SEED) -> dict:
    """Write an SMS Backup & Restore ``<calls>`` file of ``calls`` calls (valid XML as it is: its
    own clean twin)."""
    rng = random.Random(seed + 1)
    people = _people(rng, 300)
    date = 1_609_459_200_000
    lines = [("<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>\n"
              "<!--File Created By SMS Backup & Restore v10.20.002 on 01/03/2024 09:00:00-->\n"
              '<?xml-stylesheet type="text/xsl" href="calls.xsl"?>\n'
              f'<calls count="{calls}" backup_set="6f1c2f0e-0000-4000-8000-00000000b002" '
              'backup_date="1709283600000" type="full">\n')]
    with open(path, "w", encoding="utf-8") as out:
        for i in range(calls):
            date += int(rng.expovariate(1 / 1_500_000)) + 1
            kind = rng.choices("1234567", (40, 40, 14, 2, 2, 1, 1))[0]
            number, name = rng.choice(people)
            presentation = "1"
            if rng.random() < 0.02:
                number, name, presentation = "", "(Unknown)", rng.choice("234")
            duration = 0 if kind in "3567" else int(rng.expovariate(1 / 120))
            lines.append(f'  <call number="{number}" duration="{duration}" date="{date}" type="{kind}" '
                         f'presentation="{presentation}" subscription_id="1" post_dial_digits="" '
                         f'subscription_component_name="com.android.phone/com.android.services.telephony.'
                         f'TelephonyConnectionService" readable_date="{_readable(date)}" contact_name="{name}" />\n')
            if len(lines) >= 10_000:
                out.write("".join(lines))
                lines = []
        lines.append("</calls>\n")
        out.write("".join(lines))
    return {"calls": calls, "bytes": path.stat().st_size}


# -- measurements, each in a child process ---------------------------------------------------------

def _child_baseline(path: str, flat: str = "") -> dict:
    """Bare iterparse: ``end`` events, ``elem.clear()``. With ``flat``, also the usual idiom for
    flat memory (delete the cleared elements from the root), which the plain form lacks: its
    root keeps every emptied element, so it slows down and grows as the file grows."""
    from lxml import etree

    start, cpu = time.perf_counter(), time.process_time()
    events = 0
    with open(path, "rb") as f:
        for _, elem in etree.iterparse(f, events=("end",), huge_tree=True, resolve_entities=False):
            elem.clear()
            events += 1
            if flat:
                parent = elem.getparent()
                if parent is not None and parent.getparent() is None:
                    del parent[0]  # the root's children are finished in order: the first is this one
    return {"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu, "events": events}


def _child_ours(path: str, parser_name: str, out_dir: str) -> dict:
    from commtrail.nopandas import arrow_without_pandas
    arrow_without_pandas()  # as `commtrail stats` does (and `commtrail ingest`, where it keeps pandas out)
    from commtrail.blobs import DirBlobStore
    from commtrail.ingest.staging import write_staging
    from commtrail.parsers import registry
    from commtrail.parsers.base import Owner, ParseContext

    parser = registry.get(parser_name)
    out = Path(out_dir)
    ctx = ParseContext(source_sha256="0" * 64, source_path=path, timezone="Europe/London",
                       owner=Owner(name="Sam", phones=frozenset({"+447700900999"})),
                       blobs=DirBlobStore(out / "blobs"), parser_label=parser.label, work_dir=out / "tmp")
    start, cpu = time.perf_counter(), _cpu_with_children()
    with open(path, "rb") as f:  # as ingest stages a source
        records, rejected = write_staging(parser.parse(f, ctx), out / "staging.parquet")
    rejects = len(rejected)
    return {"seconds": time.perf_counter() - start, "cpu": _cpu_with_children() - cpu, "records": records,
            "rejects": rejects, "repairs": ctx.report.repairs, "warnings": len(ctx.report.warnings)}


def _cpu_with_children() -> float:
    """CPU seconds of this process and of the child processes it waited for (the part process)."""
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def measure(path: Path, twin: Path, parser_name: str, out_dir: Path) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    base = in_child("smsbr", "baseline", str(twin))
    flat = in_child("smsbr", "baseline", str(twin), "flat")
    ours = in_child("smsbr", "ours", str(path), parser_name, str(out_dir))
    return {"baseline": base, "flat": flat, "ours": ours}


def _line(name: str, size: int, m: dict) -> str:
    b, f, o = m["baseline"], m["flat"], m["ours"]
    return (f"{name}: {size / 1e6:,.0f} MB, {o['records']:,} records, {o['rejects']} rejects, "
            f"{o['repairs']:,} repairs, {o['warnings']} warnings. Bare iterparse {b['seconds']:.1f} s "
            f"(cpu {b['cpu']:.1f}, peak RSS {b['peak_mb']:.0f} MB); ours parse+Parquet {o['seconds']:.1f} s "
            f"(cpu {o['cpu']:.1f} in both processes; peak memory of this process and its part process "
            f"{o['tree_pss_mb']:.0f} MB PSS, goal < 300; RSS sum {o['tree_rss_mb']:.0f} MB; peak RSS "
            f"{o['peak_mb']:.0f} MB this process, {o['part_peak_mb']:.0f} MB the part process): "
            f"speed ratio {b['seconds'] / o['seconds']:.2f} (goal >= 0.5; cpu {b['cpu'] / o['cpu']:.2f}). "
            f"Against iterparse that also deletes the cleared elements ({f['seconds']:.1f} s, cpu {f['cpu']:.1f}, peak RSS {f['peak_mb']:.0f} MB): "
            f"{f['seconds'] / o['seconds']:.2f} (cpu {f['cpu'] / o['cpu']:.2f})")


def _row(name: str, m: dict) -> Row:
    """The table row: ours against bare iterparse (goal >= 0.5 of its speed), peak PSS under 300 MB."""
    return speedup(f"smsbr {name}", m["ours"]["seconds"], "bare iterparse", m["baseline"]["seconds"], 0.5,
                   peak_mb=m["ours"]["tree_pss_mb"], peak_limit_mb=300)


def run(workdir: Path, scale: float = 1.0, calls_too: bool = True) -> Result:
    """Generate the inputs at ``scale`` (1.0: a 1 GB sms file, 1,000,000 calls) and measure."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    results, rows = [], []
    sms, sms_twin = workdir / "sms-bench.xml", workdir / "sms-bench.twin.xml"
    calls = workdir / "calls-bench.xml"
    started = time.perf_counter()
    info = generate_sms(sms, sms_twin, int(SMS_BYTES * scale))
    info_calls = generate_calls(calls, int(CALLS * scale)) if calls_too else {"calls": 0, "bytes": 0}
    results.append(f"generated in {time.perf_counter() - started:.0f} s: {info['sms']:,} sms, {info['mms']:,} mms "
                   f"({info['media_bytes'] / max(info['bytes'], 1):.0%} of the bytes base64 media), "
                   f"{info_calls['calls']:,} calls")
    m = measure(sms, sms_twin, "smsbr-sms", workdir / "out-sms")
    results.append(_line("sms-bench.xml", info["bytes"], m))
    rows.append(_row("sms", m))
    if calls_too:
        m = measure(calls, calls, "smsbr-calls", workdir / "out-calls")
        results.append(_line("calls-bench.xml", info_calls["bytes"], m))
        rows.append(_row("calls", m))
    for path in (sms, sms_twin, calls):  # gigabytes: do not leave them behind
        path.unlink(missing_ok=True)
    for out in (workdir / "out-sms", workdir / "out-calls"):
        shutil.rmtree(out, ignore_errors=True)
    return Result(results, rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=Path("bench/out/smsbr"))
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--sms-only", action="store_true", help="skip the calls file")
    args = ap.parse_args()
    result = run(args.workdir, args.scale, calls_too=not args.sms_only)
    print(result.text())


if __name__ == "__main__":
    main()
