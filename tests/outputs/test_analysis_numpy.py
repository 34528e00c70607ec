"""The numpy forms of the analysis (the reply search, the identifier grouping) give what the
pandas forms they replaced gave (pandas only here, as the reference), on random small inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from commtrail.outputs.analysis import _Groups, _next_after


def test_next_after_is_merge_asof_forward_strict_by_key():
    rng = np.random.default_rng(3)
    for _ in range(200):
        n, m = int(rng.integers(1, 30)), int(rng.integers(0, 30))
        ts, later = np.sort(rng.integers(0, 50, n)), np.sort(rng.integers(0, 50, m))
        key, later_key = rng.integers(-1, 3, n), rng.integers(-1, 3, m)
        for same in (False, True):
            left = pd.DataFrame({"ts": ts, "key": key if same else 0})
            right = pd.DataFrame({"ts": later, "key": later_key if same else 0, "reply": later})
            merged = pd.merge_asof(left, right, on="ts", by="key", direction="forward", allow_exact_matches=False)
            expected = merged["reply"].to_numpy(dtype="float64", na_value=np.nan)
            got = _next_after(ts, key if same else None, later, later_key if same else None)
            assert np.array_equal(got, expected, equal_nan=True)


def test_groups_are_groupby_size_idxmin_idxmax_sum_and_distinct_days():
    rng = np.random.default_rng(4)
    for _ in range(200):
        n = int(rng.integers(1, 30))
        code, ts, day = rng.integers(0, 5, n), rng.integers(0, 8, n), rng.integers(0, 4, n)
        table = pd.DataFrame({"code": code, "pos": np.arange(n), "ts": ts, "inc": day == 1})
        grouped = table.groupby("code", sort=True).agg(count=("pos", "size"), first=("ts", "idxmin"),
                                                      last=("ts", "idxmax"), inc=("inc", "sum"))
        days = pd.DataFrame({"code": code, "day": day}).drop_duplicates().sort_values(["code", "day"])
        groups = _Groups(code, ts)
        assert groups.keys.tolist() == grouped.index.tolist()
        assert groups.counts.tolist() == grouped["count"].tolist()
        assert groups.first.tolist() == grouped["first"].tolist()
        assert groups.last.tolist() == grouped["last"].tolist()
        assert groups.sums(day == 1).tolist() == grouped["inc"].tolist()
        assert [d.tolist() for d in groups.distinct(day)] == [v.tolist() for _, v in days.groupby("code")["day"]]
