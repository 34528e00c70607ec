"""Property: however records are spread over overlapping sources, dedup loses nothing, counts each
copy once, keeps repeats within a source apart, and does not depend on the order of the sources."""

from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import make_case

from commtrail.timeline.master import read_master

BASE = datetime(2024, 3, 1, tzinfo=timezone.utc)

message = st.tuples(st.integers(0, 5), st.sampled_from(["hi", "stop", "🙂", ""]),
                    st.sampled_from(["incoming", "outgoing"]))
sources = st.lists(st.lists(message, min_size=0, max_size=8), min_size=1, max_size=4)


def records(msgs):
    out = []
    for minute, body, direction in msgs:
        rec = {"ts_utc": BASE + timedelta(minutes=minute), "channel": "sms", "kind": "message",
               "direction": direction, "body": body}
        rec.update({"sender": "+447700900123"} if direction == "incoming" else {"recipients": ["+447700900123"]})
        out.append(rec)
    return out


def expected_events(srcs):
    """Each source contributes its multiset of keys; an event exists once per rank of a key."""
    from collections import Counter
    best = Counter()
    for msgs in srcs:
        for key, n in Counter(msgs).items():
            best[key] = max(best[key], n)
    return sum(best.values())


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(srcs=sources)
def test_dedup_properties(tmp_path_factory, srcs):
    named = {f"s{i}": records(m) for i, m in enumerate(srcs)}
    root = tmp_path_factory.mktemp("case")
    case = make_case(root / "a", named)
    master = read_master(case).to_pylist()
    assert sum(len(r["occurrences"]) for r in master) == sum(len(m) for m in srcs)
    assert len(master) == expected_events(srcs)
    for row in master:
        paths = [o["source_path"] for o in row["occurrences"]]
        assert len(paths) == len(set(paths))     # one copy per source at most
    reordered = dict(reversed(list(named.items())))
    other = make_case(root / "b", reordered)
    assert other.master_file.read_bytes() == case.master_file.read_bytes()




@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(srcs=sources)
def test_the_master_does_not_depend_on_how_the_assembler_cuts_it(tmp_path_factory, srcs):
    from commtrail.timeline import assemble, dedup
    named = {f"s{i}": records(m) for i, m in enumerate(srcs)}
    root = tmp_path_factory.mktemp("case")
    whole = read_master(make_case(root / "a", named))
    saved = dedup.BUCKET_BYTES, assemble.STAGING_BATCH_ROWS
    dedup.BUCKET_BYTES, assemble.STAGING_BATCH_ROWS = 300, 2   # about one event per bucket, 2-row reads
    try:
        cut = read_master(make_case(root / "b", named))
    finally:
        dedup.BUCKET_BYTES, assemble.STAGING_BATCH_ROWS = saved
    assert cut.to_pylist() == whole.to_pylist()     # (dictionaries may list values in another order)
