"""E-mail parsing speed: commtrail's mbox parser against a straightforward mailbox + email parse.

Generates a Google-Takeout-style mbox (``All mail Including Spam and Trash.mbox``; scale 1.0 is
about 2 GB): Gmail headers (X-GM-THRID, X-Gmail-Labels, Received chains, ARC/DKIM), text and
HTML alternatives in quoted-printable, RFC 2047 subjects and names in two charsets, replies with
threads, ``>From `` quoted body lines, and a tenth of the messages with an attachment of a few
hundred KB. All names and addresses are fictional (example.com / example.org, 192.0.2.x).

Then, in the same run, each side parses the file in a child process:

* ours: the ``mbox`` parser drained into Parquet (what ingest does), attachments to a blob store;
* baseline: ``mailbox.mbox`` with ``email`` (policy.default) extracting from, to, subject, date,
  body text and the SHA-256 of every attachment.

Reported: MB/s of both and the ratio, CPU use (cores busy on average) and peak memory summed
over the child and all its worker processes (RSS sampled every 50 ms; PSS too, which counts
pages shared between processes once).

    python -m bench.email --workdir /tmp/bench-email --scale 0.1
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__" and not __package__:  # pragma: no cover
    # Run as a file, this module's folder would come first on sys.path and this file would
    # shadow the standard library's ``email`` package: run it as ``python -m bench.email``.
    os.chdir(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    os.execv(sys.executable, [sys.executable, "-m", "bench.email", *sys.argv[1:]])

import argparse
import base64
import binascii
import json
import pathlib
import random
import resource
import time
from datetime import datetime, timedelta, timezone

from bench._measure import run_sampled
from bench._table import Result, speedup

FULL_SIZE = 2_000_000_000
MBOX_NAME = "All mail Including Spam and Trash.mbox"
REPO = pathlib.Path(__file__).resolve().parent.parent

# --- generator ----------------------------------------------------------------------------

_FIRST = ["Jordan", "Sam", "Alex", "Robin", "Casey", "Morgan", "Jamie", "Taylor", "Chris", "Noor",
          "Zoë", "Renée", "Jürgen", "Łucja", "Ángel", "Siobhán"]
_LAST = ["Kline", "Taylor", "Okafor", "Nguyen", "Fischer", "Moreau", "Rossi", "Novak", "Silva", "Brennan"]
_WORDS = ("the a to and of we you it is in that for on this with at be not have are was but so "
          "meeting tomorrow message call sorry please again today week weekend house car kids school "
          "money lawyer court letter saw outside work phone reply answer stop why never always").split()
_ACCENTED = ["café", "naïve", "déjà", "Grüße", "über", "señor", "façade", "smörgåsbord", "€20", "😀"]
_LABELS = ["Inbox", "Important", "Opened", "Sent", "Archived", '"Category Personal"', "Category Updates",
           "Starred", "Unread", "Spam", "Trash"]


def _b64_folded(rng: random.Random, n: int, width: int = 76, indent: str = "") -> str:
    text = base64.b64encode(rng.randbytes(n)).decode()
    return "\n".join(indent + text[i:i + width] for i in range(0, len(text), width))


def _encoded_word(text: str, rng: random.Random) -> str:
    if rng.random() < 0.5:
        return "=?UTF-8?B?" + base64.b64encode(text.encode("utf-8")).decode() + "?="
    try:
        raw = text.encode("iso-8859-1")
        charset = "ISO-8859-1"
    except UnicodeEncodeError:
        raw, charset = text.encode("utf-8"), "UTF-8"
    q = "".join(chr(b) if (48 <= b <= 57 or 65 <= b <= 90 or 97 <= b <= 122) else
                ("_" if b == 32 else f"={b:02X}") for b in raw)
    return f"=?{charset}?Q?{q}?="


def _person(rng: random.Random, index: int) -> tuple[str, str]:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    addr = f"{first.lower().encode('ascii', 'ignore').decode()}.{last.lower()}{index % 50}@example.com"
    return f"{first} {last}", addr


def _display(name: str, addr: str, rng: random.Random) -> str:
    if name.isascii():
        return f'"{name}" <{addr}>' if rng.random() < 0.3 else f"{name} <{addr}>"
    return f"{_encoded_word(name, rng)} <{addr}>"


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(5, 14))]
    if rng.random() < 0.15:
        words.insert(rng.randrange(len(words)), rng.choice(_ACCENTED))
    return " ".join(words).capitalize() + rng.choice([".", ".", "?", "!"])


def _paragraphs(rng: random.Random, n: int) -> list[str]:
    out = []
    for _ in range(n):
        text, line = [], []
        for _ in range(rng.randint(1, 6)):
            line.append(_sentence(rng))
            if sum(len(s) for s in line) > 60:
                text.append(" ".join(line))
                line = []
        if line:
            text.append(" ".join(line))
        out.append("\n".join(text))
    return out


def _qp(text: str) -> str:
    return binascii.b2a_qp(text.encode("utf-8")).decode("ascii")


def _message(rng: random.Random, i: int, when: datetime, threads: list) -> bytes:
    me = ("Sam Taylor", "sam@example.org")
    other = _person(rng, i)
    outgoing = rng.random() < 0.3
    sender, to = (me, other) if outgoing else (other, me)
    if threads and rng.random() < 0.4:
        thrid, root, subject = rng.choice(threads)
        subject = "Re: " + subject
        reply = True
    else:
        thrid = str(rng.getrandbits(63))
        root = f"<CA+{rng.getrandbits(64):x}@mail.example.com>"
        subject = _sentence(rng)[:60]
        if rng.random() < 0.2:
            subject = _encoded_word(subject + " " + rng.choice(_ACCENTED), rng)
        threads.append((thrid, root, subject))
        if len(threads) > 500:
            threads.pop(0)
        reply = False
    msgid = f"<CA+{rng.getrandbits(64):x}@mail.example.com>" if reply else root
    stamp = when.strftime("%a, %d %b %Y %H:%M:%S +0000")
    pst = (when - timedelta(hours=8)).strftime("%a, %d %b %Y %H:%M:%S -0800 (PST)")
    labels = ",".join(rng.sample(_LABELS, rng.randint(1, 4)))
    h = [
        f"X-GM-THRID: {thrid}",
        f"X-Gmail-Labels: {labels}",
        "Delivered-To: sam@example.org",
        f"Received: by 2002:a05:6358:{rng.getrandbits(16):x}:b0:17a:{rng.getrandbits(16):x}:{rng.getrandbits(16):x} "
        f"with SMTP id {rng.getrandbits(40):x}csp{rng.randint(100000, 999999)}rwb;\n        {pst}",
        f"X-Received: by 2002:a17:906:{rng.getrandbits(16):x}:b0:9a1:1234:5678 with SMTP id "
        f"ab12-20020a170906123400b009a1{rng.getrandbits(40):x}mr{rng.randint(10**6, 10**7)}ejc."
        f"{rng.randint(1, 99)}.{int(when.timestamp() * 1000)};\n        {pst}",
        "ARC-Seal: i=1; a=rsa-sha256; t=%d; cv=none;\n        d=google.com; s=arc-20160816;\n        b=%s"
        % (int(when.timestamp()), _b64_folded(rng, 256, 70, "        ").lstrip()),
        "ARC-Message-Signature: i=1; a=rsa-sha256; c=relaxed/relaxed; d=google.com; s=arc-20160816;\n"
        "        h=to:subject:message-id:date:from:mime-version:dkim-signature;\n"
        f"        bh={base64.b64encode(rng.randbytes(32)).decode()};\n"
        f"        b={_b64_folded(rng, 256, 70, '        ').lstrip()}",
        "ARC-Authentication-Results: i=1; mx.google.com;\n       dkim=pass header.i=@example.com;\n"
        "       spf=pass (google.com: domain of sender designates 192.0.2.10 as permitted sender)",
        f"Return-Path: <{sender[1]}>",
        f"Received: from mail.example.com (mail.example.com. [192.0.2.{rng.randint(1, 254)}])\n"
        f"        by mx.google.com with ESMTPS id {rng.getrandbits(48):x}.{rng.randint(1, 99)}.2024.01.01\n"
        f"        for <{to[1]}>\n        (version=TLS1_3 cipher=TLS_AES_256_GCM_SHA384 bits=256/256);\n"
        f"        {pst}",
        "Received-SPF: pass (google.com: domain of sender designates 192.0.2.10 as permitted sender) "
        "client-ip=192.0.2.10;",
        "Authentication-Results: mx.google.com;\n       dkim=pass header.i=@example.com header.s=s1;\n"
        "       spf=pass smtp.mailfrom=example.com;\n       dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=example.com",
        "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\n        d=example.com; s=s1; t=%d;\n"
        "        h=to:subject:message-id:date:from:mime-version:from:to:cc:subject:date:message-id:reply-to;\n"
        "        bh=%s;\n        b=%s" % (int(when.timestamp()), base64.b64encode(rng.randbytes(32)).decode(),
                                            _b64_folded(rng, 256, 70, "        ").lstrip()),
        "MIME-Version: 1.0",
        f"From: {_display(*sender, rng)}",
        f"Date: {stamp}",
        f"Message-ID: {msgid}",
        f"Subject: {subject}",
        f"To: {_display(*to, rng)}",
    ]
    if rng.random() < 0.2:
        cc = _person(rng, i + 7)
        h.append(f"Cc: {_display(*cc, rng)}")
    if reply:
        h.append(f"In-Reply-To: {root}")
        h.append(f"References: {root}")
    paras = _paragraphs(rng, rng.randint(1, 6))
    if rng.random() < 0.05:
        paras.append("From my phone")
    if reply:
        paras.append("On Mon, 1 Jan 2024 at 10:00, someone wrote:\n" +
                     "\n".join("> " + s for s in _paragraphs(rng, 2)[0].split("\n")))
    text = "\n\n".join(paras) + "\n"
    html = "<div dir=\"ltr\">" + "".join(f"<div>{p.replace(chr(10), '<br>')}</div><div><br></div>"
                                         for p in paras) + "</div>\n"
    alt_b = f"000000000000{rng.getrandbits(48):012x}"
    alternative = (
        f"--{alt_b}\nContent-Type: text/plain; charset=\"UTF-8\"\nContent-Transfer-Encoding: quoted-printable\n\n"
        f"{_qp(text)}\n"
        f"--{alt_b}\nContent-Type: text/html; charset=\"UTF-8\"\nContent-Transfer-Encoding: quoted-printable\n\n"
        f"{_qp(html)}\n--{alt_b}--\n")
    if rng.random() < 0.1:
        mix_b = f"000000000000{rng.getrandbits(48):012x}"
        size = rng.randint(150_000, 450_000)
        kind, ext = rng.choice([("application/pdf", "pdf"), ("image/jpeg", "jpg"), ("image/png", "png")])
        h.append(f"Content-Type: multipart/mixed; boundary=\"{mix_b}\"")
        body = (f"--{mix_b}\nContent-Type: multipart/alternative; boundary=\"{alt_b}\"\n\n{alternative}\n"
                f"--{mix_b}\nContent-Type: {kind}; name=\"scan_{i}.{ext}\"\n"
                f"Content-Disposition: attachment; filename=\"scan_{i}.{ext}\"\n"
                f"Content-Transfer-Encoding: base64\nX-Attachment-Id: f_{rng.getrandbits(32):x}\n\n"
                f"{_b64_folded(rng, size)}\n--{mix_b}--\n")
    else:
        h.append(f"Content-Type: multipart/alternative; boundary=\"{alt_b}\"")
        body = alternative
    body = "\n".join((">" + line) if line.startswith("From ") else line for line in body.split("\n"))
    sep = f"From {thrid}@xxx {when.strftime('%a %b %d %H:%M:%S +0000 %Y')}\n"
    return (sep + "\n".join(h) + "\n\n" + body + "\n").encode("utf-8")


def generate(path: pathlib.Path, scale: float, seed: int = 20240101) -> tuple[int, int]:
    """Write the mbox; return (bytes, messages)."""
    rng = random.Random(seed)
    target = int(FULL_SIZE * scale)
    when = datetime(2021, 1, 1, tzinfo=timezone.utc)
    threads: list = []
    written = count = 0
    with open(path, "wb") as out:
        while written < target:
            when += timedelta(seconds=rng.randint(60, 4000))
            data = _message(rng, count, when, threads)
            out.write(data)
            written += len(data)
            count += 1
    return written, count


# --- the two measured sides (each runs in a child process) -------------------------------

def _ours(mbox: pathlib.Path, out: pathlib.Path) -> dict:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from commtrail.blobs import DirBlobStore
    from commtrail.ingest.staging import write_staging
    from commtrail.parsers import registry
    from commtrail.parsers.base import Owner, ParseContext

    parser = registry.get("mbox")
    ctx = ParseContext(source_sha256="0" * 64, source_path=str(mbox), timezone="Europe/London",
                       owner=Owner(emails=frozenset({"sam@example.org"})), blobs=DirBlobStore(out / "blobs"),
                       parser_label=parser.label)
    with open(mbox, "rb") as stream:  # as ingest stages a source
        records, rejects = write_staging(parser.parse(stream, ctx), out / "staging.parquet")
    lengths = pc.list_value_length(pq.read_table(out / "staging.parquet", columns=["attachments"])["attachments"])
    return {"records": records, "rejects": len(rejects), "attachments": pc.sum(lengths).as_py() or 0,
            "warnings": len(ctx.report.warnings), "repairs": ctx.report.repairs}


def _baseline(mbox: pathlib.Path, out: pathlib.Path) -> dict:
    import email
    import email.policy
    import hashlib
    import mailbox

    def factory(file):
        return email.message_from_binary_file(file, policy=email.policy.default)

    records = attachments = failures = 0
    fields = []  # what a script would keep: the last row only, so memory stays flat
    for msg in mailbox.mbox(str(mbox), factory=factory, create=False):
        try:
            part = msg.get_body(preferencelist=("plain", "html"))
            fields = [msg["from"].addresses if msg["from"] else (), msg["to"].addresses if msg["to"] else (),
                      str(msg["subject"]), msg["date"].datetime if msg["date"] else None,
                      part.get_content() if part is not None else None]
            for att in msg.iter_attachments():
                content = att.get_content()
                if isinstance(content, str):
                    content = content.encode("utf-8", "surrogateescape")
                elif not isinstance(content, bytes):
                    content = content.as_bytes()
                fields.append(hashlib.sha256(content).hexdigest())
                attachments += 1
            records += 1
        except Exception:  # noqa: BLE001 - count, as a straightforward script would skip it
            failures += 1
    return {"records": records, "failures": failures, "attachments": attachments}


def _child_main(mode: str, mbox: str, out: str) -> None:
    start = time.perf_counter()
    result = (_ours if mode == "ours" else _baseline)(pathlib.Path(mbox), pathlib.Path(out))
    result["seconds_inside"] = time.perf_counter() - start
    own, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    result["cpu_main"] = own.ru_utime + own.ru_stime
    result["cpu_workers"] = workers.ru_utime + workers.ru_stime
    print(json.dumps(result))


# --- measuring ----------------------------------------------------------------------------

def measure(mode: str, mbox: pathlib.Path, out: pathlib.Path) -> dict:
    """Run one side in a child process; wall time, CPU time and peak memory of its tree."""
    out.mkdir(parents=True, exist_ok=True)
    run = run_sampled([sys.executable, "-m", "bench.email", "--child", mode, "--input", str(mbox),
                       "--workdir", str(out)], cwd=str(REPO))
    if run["returncode"] != 0:
        raise RuntimeError(f"{mode} failed with exit status {run['returncode']}")
    result = json.loads(run["stdout"].strip().splitlines()[-1])
    result.update(wall=run["wall"], cpu=run["cpu"], peak_rss=run["peak_rss"], peak_pss=run["peak_pss"],
                  processes=run["processes"])
    return result


def run(workdir: pathlib.Path, scale: float = 1.0) -> Result:
    """Generate the mbox at ``scale`` (1.0 = 2 GB), time both sides, return the result lines and row."""
    import shutil

    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    mbox = workdir / MBOX_NAME
    t0 = time.perf_counter()
    size, count = generate(mbox, scale)
    gen_s = time.perf_counter() - t0
    lines = [f"email: generated {size / 1e6:.0f} MB, {count} messages (scale {scale}) in {gen_s:.0f} s"]
    results = {}
    for mode in ("ours", "baseline"):
        out = workdir / f"out-{mode}"
        shutil.rmtree(out, ignore_errors=True)
        results[mode] = r = measure(mode, mbox, out)
        mbps = size / r["wall"] / 1e6
        r["mbps"] = mbps
        detail = ", ".join(f"{k} {r[k]}" for k in ("records", "rejects", "failures", "attachments",
                                                      "warnings", "repairs") if k in r)
        lines.append(f"email {mode}: {r['wall']:.1f} s, {mbps:.1f} MB/s, CPU {r['cpu_main']:.0f} s in the main "
                     f"process + {r['cpu_workers']:.0f} s in workers = {r['cpu'] / r['wall']:.2f} cores busy, "
                     f"peak memory {r['peak_rss'] / 2**20:.0f} MB RSS / {r['peak_pss'] / 2**20:.0f} MB PSS "
                     f"over {r['processes']} processes ({detail})")
        shutil.rmtree(out, ignore_errors=True)
    ratio = results["ours"]["mbps"] / results["baseline"]["mbps"]
    ok = ratio >= 3 and results["ours"]["peak_rss"] < 300 * 2**20
    lines.append(f"email ratio ours/baseline: {ratio:.2f}x (goal >= 3x, peak < 300 MB): "
                 f"{'met' if ok else 'NOT met'}")
    ours, base = results["ours"], results["baseline"]
    return Result(lines, [speedup("email mbox", ours["wall"], "mailbox + email", base["wall"], 3,
                                  peak_mb=ours["peak_rss"] / 2**20, peak_limit_mb=300)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", type=pathlib.Path, default=pathlib.Path("bench/out/email"))
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--child", choices=("ours", "baseline"), help=argparse.SUPPRESS)
    ap.add_argument("--input", help=argparse.SUPPRESS)
    ap.add_argument("--generate-only", action="store_true", help="write the mbox and stop")
    args = ap.parse_args()
    if args.child:
        _child_main(args.child, args.input, str(args.workdir))
        return
    if args.generate_only:
        args.workdir.mkdir(parents=True, exist_ok=True)
        size, count = generate(args.workdir / MBOX_NAME, args.scale)
        print(f"{size} bytes, {count} messages")
        return
    result = run(args.workdir, args.scale)
    print(result.text())


if __name__ == "__main__":
    main()
