"""Every registered parser and sniff against hostile and broken input, seeded from the fixtures.

The mutations and checks are those of ``bench/fuzz.py`` (the long run, ``make fuzz``); here they
run at low volume: hypothesis draws the seed and the mutation, and a few deterministic sweeps
cover each kind of damage on purpose (truncation at each kind of boundary, other encodings, NUL
bytes, a 10 MB line, deep nesting).
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench import fuzz
from commtrail.parsers import registry

# The parsers of the package (tests may register test-only formats of their own).
SEEDS = {name: seeds for name, seeds in fuzz.seeds_by_parser().items()
         if registry.get(name).parse.__module__.startswith("commtrail.parsers.")}
PARSERS = sorted(SEEDS)
FAST = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def small_seeds(name: str, n: int = 3) -> list[fuzz.Seed]:
    """A few seeds of the parser, smallest first (the sweeps parse each many times)."""
    return sorted(SEEDS[name], key=lambda s: (len(s.data), s.label))[:n]


def assert_clean(name: str, data: bytes, seed: fuzz.Seed | None, what: str, deep: bool = False) -> fuzz.Check:
    with tempfile.TemporaryDirectory() as tmp:
        result = fuzz.check(registry.get(name), data, Path(tmp), seed=seed, name=seed.name if seed else "input",
                            deep=deep, timeout=60)
    assert not result.findings, (f"{name} on {what} ({len(data)} bytes): " + "; ".join(
        f"{f.kind}: {f.message}\n{f.trace[-1500:]}" for f in result.findings))
    return result


def test_every_parser_has_a_seed_and_sniff_claims_it():
    assert PARSERS == sorted(p.name for p in registry.all_parsers() if p.parse.__module__.startswith("commtrail."))
    assert [name for name, seeds in SEEDS.items() if not seeds] == []


@pytest.mark.parametrize("mark", ["\ufeff", "\u200e", "\u202e", "\u2068"])
@pytest.mark.parametrize("tail", ["", "\ufffd", "x", "12/03/2024, 10:00 - Jordan: hi"])
def test_sniff_answers_quickly_for_a_line_of_thousands_of_invisible_marks(mark, tail):
    """A 64 KiB head of one invisible mark over and over (a fuzzed export of BOMs): every shape of
    header was tried at every split of the run between two of its marks, 2.6 s of CPU for the
    WhatsApp sniff alone."""
    head = ((mark * 30_000) + tail).encode("utf-8")[: registry.SNIFF_BYTES]
    findings = fuzz.check_sniff(head, "chat.txt")
    assert not findings, [f.message for f in findings]


@pytest.mark.parametrize("name", PARSERS)
def test_unmutated_seeds_pass_every_check(name):
    for seed in SEEDS[name]:
        assert_clean(name, seed.data, seed, seed.label, deep=True)


@pytest.mark.parametrize("name", PARSERS)
@FAST
@given(data=st.data())
def test_random_mutations_keep_the_contract(name, data):
    seed = data.draw(st.sampled_from(SEEDS[name]), label="seed")
    rnd = data.draw(st.randoms(use_true_random=False), label="rnd")
    names, mutated = fuzz.mutate(seed.data, rnd)
    assert_clean(name, mutated, seed, f"{seed.label} after {names}", deep=True)


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(data=st.data())
def test_sniff_answers_a_bool_quickly_for_anything(data):
    if data.draw(st.booleans()):
        head = data.draw(st.binary(max_size=4096))
        name = data.draw(st.sampled_from(["x.txt", "sms.xml", "a.mbox", "m.eml", "i.csv", "", "a.zip"]))
    else:
        seed = data.draw(st.sampled_from(fuzz.load_seeds()))
        _, head = fuzz.mutate(seed.data, data.draw(st.randoms(use_true_random=False)))
        name = seed.name
    findings = fuzz.check_sniff(head, name)
    assert not findings, [f.message for f in findings]
    assert registry.sniff(head[: registry.SNIFF_BYTES], name) in [None, *registry.all_parsers()]


@pytest.mark.parametrize("name", PARSERS)
def test_truncation_at_every_kind_of_boundary(name):
    rnd = random.Random(8)
    for seed in small_seeds(name, 2):
        data = seed.data
        cuts = {0, 1, len(data) - 1}
        for kind in fuzz.BOUNDARIES:
            cuts.update(fuzz.boundary(data, kind, rnd) for _ in range(4))
        lines = [i + 1 for i, b in enumerate(data) if b == 0x0A]
        cuts.update(lines[:: max(1, len(lines) // 25)])
        for cut in sorted(c for c in cuts if 0 <= c <= len(data)):
            assert_clean(name, data[:cut], seed, f"{seed.label} cut at byte {cut}")


@pytest.mark.parametrize("name", PARSERS)
def test_other_encodings(name):
    for seed in small_seeds(name, 2):
        text = seed.data.decode("utf-8", "replace")
        variants = {codec: text.encode(codec, "replace") for codec in
                    ("utf-16", "utf-16-le", "utf-16-be", "utf-32", "latin-1", "cp1252", "utf-8-sig")}
        variants["double-encoded utf-8"] = seed.data.decode("latin-1").encode("utf-8")
        variants["odd-length utf-16"] = text.encode("utf-16")[:-1]
        for codec, data in variants.items():
            assert_clean(name, data, seed, f"{seed.label} as {codec}")


@pytest.mark.parametrize("name", PARSERS)
def test_nul_bytes(name):
    seed = small_seeds(name, 1)[0]
    data = seed.data
    mid = len(data) // 2
    variants = {
        "a NUL in the middle": data[:mid] + b"\0" + data[mid:],
        "a zeroed 512-byte block": data[:mid] + b"\0" * 512 + data[mid + 512:],
        "a NUL tail, as a crash leaves": data + b"\0" * 4096,
        "only NULs": b"\0" * 4096,
        "NUL-interleaved (UTF-16 without BOM)": bytes(b for c in data for b in (c, 0)),
    }
    for what, mutated in variants.items():
        assert_clean(name, mutated, seed, f"{seed.label} with {what}")


@pytest.mark.parametrize("name", PARSERS)
def test_a_10_mb_line(name):
    seed = small_seeds(name, 1)[0]
    data = seed.data
    cut = data.find(b"\n", len(data) // 2) + 1 or len(data)
    line = b"A" * fuzz.TEN_MB
    assert_clean(name, data[:cut] + line + b"\n" + data[cut:], seed, f"{seed.label} with a 10 MB line")


@pytest.mark.parametrize("name", PARSERS)
def test_deep_nesting(name):
    seed = small_seeds(name, 1)[0]
    data = seed.data
    at = data.rfind(b">", 0, len(data) // 2) + 1 or data.find(b"\n") + 1
    xml = b"<a>" * 100_000 + b"x" + b"</a>" * 100_000
    assert_clean(name, data[:at] + xml + data[at:], seed, f"{seed.label} with XML nested 100,000 deep")
    mime = b"".join(b'Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n' % (i, i) for i in range(3000))
    at = data.find(b"\n\n") + 2 or len(data)
    assert_clean(name, data[:at] + mime + data[at:], seed, f"{seed.label} with MIME nested 3,000 deep")
