"""Property: a master built source by source, reusing the key files of earlier builds, is byte for
byte the master built from scratch over the same sources (timeline/keys.py)."""

import json
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import CASE_TOML, add_sources, make_case

from commtrail.case import Case
from commtrail.outputs.manifest import write_manifest
from commtrail.timeline import assemble, keys, master, reuse
from commtrail.timeline.master import CONSISTENCY_FILE, build_master

BASE = datetime(2024, 3, 1, tzinfo=timezone.utc)

# (minute or None for undated, text, direction, counterpart)
message = st.tuples(st.one_of(st.none(), st.integers(0, 40)), st.sampled_from(["hi", "stop", "🙂", ""]),
                    st.sampled_from(["incoming", "outgoing"]), st.sampled_from(["123", "456"]))
sources = st.lists(st.lists(message, min_size=0, max_size=8), min_size=2, max_size=5)


def records(msgs):
    out = []
    for minute, body, direction, who in msgs:
        number = f"+447700900{who}"
        rec = {"ts_utc": None if minute is None else BASE + timedelta(minutes=minute), "channel": "sms",
               "kind": "message", "direction": direction, "body": body}
        rec.update({"sender": number} if direction == "incoming" else {"recipients": [number]})
        out.append(rec)
    return out


def reused_counts(monkeypatch) -> list[int]:
    """How many sources each build took from key files (recorded as builds run)."""
    counts: list[int] = []
    original = keys.reusable

    def spy(*args, **kwargs):
        kept = original(*args, **kwargs)
        counts.append(len(kept))
        return kept
    monkeypatch.setattr(keys, "reusable", spy)
    return counts


def kept_rows(monkeypatch) -> list[int]:
    """How many leading rows each build copied from the last master (recorded as builds run)."""
    kept: list[int] = []
    original = master.shared_groups

    def spy(*args, **kwargs):
        groups = original(*args, **kwargs)
        kept.append(groups * assemble.ROW_GROUP_ROWS)
        return groups
    monkeypatch.setattr(master, "shared_groups", spy)
    return kept


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(srcs=sources, data=st.data(), group_rows=st.sampled_from([1, 2, 3, 100_000]))
def test_a_master_built_source_by_source_is_the_master_built_at_once(tmp_path_factory, monkeypatch, srcs, data,
                                                                     group_rows):
    monkeypatch.setattr(assemble, "ROW_GROUP_ROWS", group_rows)   # small row groups: the last master's rows are kept
    named = {f"s{i}": records(m) for i, m in enumerate(srcs)}
    order = data.draw(st.permutations(list(named)))
    cuts = sorted(data.draw(st.sets(st.integers(1, len(order) - 1), max_size=len(order) - 1)))
    batches = [order[a:b] for a, b in zip([0, *cuts], [*cuts, len(order)])]
    root = tmp_path_factory.mktemp("case")
    whole = make_case(root / "whole", named, fmt="smsbr-sms")

    counts = reused_counts(monkeypatch)
    kept = kept_rows(monkeypatch)
    (root / "parts").mkdir()
    (root / "parts" / "case.toml").write_text(CASE_TOML, encoding="utf-8")
    parts = Case(root / "parts")
    parts.ensure_dirs()
    for batch in batches:
        add_sources(parts, {name: named[name] for name in batch}, fmt="smsbr-sms")
        build_master(parts)
        write_manifest(parts)
    assert counts == [len(order[:a]) for a in [0, *cuts]]      # every earlier source came from its key file
    assert len(kept) == len(batches) and kept[0] == 0 and all(k % group_rows == 0 for k in kept)
    assert parts.master_file.read_bytes() == whole.master_file.read_bytes()
    assert (parts.root / CONSISTENCY_FILE).read_bytes() == (whole.root / CONSISTENCY_FILE).read_bytes()
    assert sorted(p.name for p in (parts.root / keys.KEYS_DIR).iterdir()) == \
        sorted(p.name for p in (whole.root / keys.KEYS_DIR).iterdir())


def _two_builds(root, monkeypatch, change=None):
    """A case holding s0, then s0 and s1 (manifest written after each build), with ``change(case)``
    run between the builds; the sources each build reused, and the case."""
    named = {"s0": records([(1, "hi", "incoming", "123"), (None, "stop", "outgoing", "456")]),
             "s1": records([(1, "hi", "incoming", "123"), (2, "🙂", "incoming", "456")])}
    counts = reused_counts(monkeypatch)
    case = make_case(root, {"s0": named["s0"]}, fmt="smsbr-sms")
    write_manifest(case)
    if change is not None:
        change(case)
        case = Case(case.root)   # as the next command opens it
    add_sources(case, {"s1": named["s1"]}, fmt="smsbr-sms")
    build_master(case)
    write_manifest(case)
    counts = list(counts)
    whole = make_case(root.parent / (root.name + "-whole"), named, toml=(root / "case.toml").read_text(),
                      fmt="smsbr-sms")
    assert case.master_file.read_bytes() == whole.master_file.read_bytes()
    return counts, case


def test_the_second_build_keys_only_the_new_source(tmp_path, monkeypatch):
    counts, case = _two_builds(tmp_path / "c", monkeypatch)
    assert counts == [0, 1]
    assert len(list((case.root / keys.KEYS_DIR).glob("*.parquet"))) == 2


def test_a_key_file_changed_behind_the_tools_back_is_not_trusted(tmp_path, monkeypatch):
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    def tamper(case):
        path = next((case.root / keys.KEYS_DIR).glob("*.parquet"))
        table = pq.read_table(path)
        table = table.set_column(table.schema.get_field_index("party"), "party",
                                 pc.cast(pc.fill_null(table["party"], "Nobody"), table.schema.field("party").type))
        pq.write_table(table, path)   # the same fingerprint, other parties: only its hash tells
    counts, _ = _two_builds(tmp_path / "c", monkeypatch, tamper)
    assert counts == [0, 0]


def test_an_edit_of_case_toml_keys_every_source_again(tmp_path, monkeypatch):
    def relink(case):
        path = case.root / "case.toml"
        path.write_text(path.read_text().replace(', "+44 7700 900456"', ''), encoding="utf-8")   # unlinks 456
    counts, _ = _two_builds(tmp_path / "c", monkeypatch, relink)
    assert counts == [0, 0]


def test_a_restaged_source_is_keyed_again_and_a_removed_one_forgotten(tmp_path, monkeypatch):
    import os

    def restage(case):
        staged = next(case.staging.glob("*.parquet"))
        os.utime(staged, ns=(staged.stat().st_atime_ns, staged.stat().st_mtime_ns + 1_000_000_000))
    counts, case = _two_builds(tmp_path / "c", monkeypatch, restage)
    assert counts == [0, 0]
    from commtrail.inventory import read_inventory, write_inventory
    rows = read_inventory(case.sources_file)
    write_inventory(case.sources_file, [r for r in rows if r["path"] == "s1"])
    build_master(case)
    assert [p.name for p in (case.root / keys.KEYS_DIR).glob("*.parquet")] == \
        [f"{r['sha256']}.parquet" for r in rows if r["path"] == "s1"]



def _added_later(root, monkeypatch, added, change=None, who="456"):
    """s0 (eight texts from 123, minutes 0..7) built, then ``added`` (minute, text) from ``who`` as s1, with ``change(case)``
    between the builds, in row groups of two: the rows the second build kept, and whether its master
    is the one built from scratch."""
    monkeypatch.setattr(assemble, "ROW_GROUP_ROWS", 2)
    named = {"s0": records([(m, "hi", "incoming", "123") for m in range(8)]),
             "s1": records([(m, text, "incoming", who) for m, text in added])}
    kept = kept_rows(monkeypatch)
    case = make_case(root, {"s0": named["s0"]}, fmt="smsbr-sms")
    write_manifest(case)
    if change is not None:
        change(case)
    add_sources(case, {"s1": named["s1"]}, fmt="smsbr-sms")
    build_master(case)
    whole = make_case(root.parent / (root.name + "-whole"), named, fmt="smsbr-sms")
    return kept[1], case.master_file.read_bytes() == whole.master_file.read_bytes()


def test_rows_before_the_first_new_event_are_copied_from_the_last_master(tmp_path, monkeypatch):
    assert _added_later(tmp_path / "c", monkeypatch, [(10, "stop"), (11, "stop")]) == (8, True)


def test_rows_from_a_new_event_on_are_assembled_again(tmp_path, monkeypatch):
    assert _added_later(tmp_path / "c", monkeypatch, [(3, "stop"), (11, "stop")]) == (2, True)


def test_a_near_duplicate_of_an_earlier_row_is_not_copied(tmp_path, monkeypatch):
    # the same text from the same number a second after minute 5: linked to that row, which changes
    assert _added_later(tmp_path / "c", monkeypatch, [(5 + 1 / 60, "hi")], who="123") == (4, True)


@pytest.mark.parametrize("what", ["record", "master"])
def test_a_master_or_its_record_changed_behind_the_tools_back_is_not_trusted(tmp_path, monkeypatch, what):
    def tamper(case):
        path = reuse.record_path(case.root) if what == "record" else case.master_file
        path.write_bytes(path.read_bytes() + b" ")
    assert _added_later(tmp_path / "c", monkeypatch, [(10, "stop")], tamper) == (0, True)


def test_a_master_written_by_another_pyarrow_is_not_copied(tmp_path, monkeypatch):
    def other_writer(case):     # the record says another pyarrow wrote the master (the manifest agrees)
        path = reuse.record_path(case.root)
        record = json.loads(path.read_text())
        assert record["writer"]["pyarrow"] == pa.__version__
        record["writer"]["pyarrow"] = "0.1"
        path.write_text(json.dumps(record))
        write_manifest(case)
    assert _added_later(tmp_path / "c", monkeypatch, [(10, "stop")], other_writer) == (0, True)
