"""Mutated inputs of every parser through the real commands: `commtrail ingest` (never a
traceback, exit 0 or 1, every error naming its input, the printed summary equal to what was
staged), then verify, every export and the report on the case they made."""

from __future__ import annotations

import random

from bench import fuzz

from test_fuzz_parsers import SEEDS


def test_mutated_inputs_through_ingest_verify_export_and_report(tmp_path):
    rnd = random.Random(5)
    inputs = []
    for name in sorted(SEEDS):
        for _ in range(2):
            seed = rnd.choice(SEEDS[name])
            inputs.append((seed.name, fuzz.mutate(seed.data, rnd, stack=2)[1]))
    # inputs of no known format, and one whose name sends sniffing the wrong way
    inputs.append(("noise.bin", bytes(rnd.randrange(256) for _ in range(3000))))
    inputs.append(("sms-20240101.xml", b"\0" * 100))
    findings = fuzz.cli_round(inputs, tmp_path)
    assert findings == [], [f.message for f in findings]
