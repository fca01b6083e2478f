"""Profiles: the merge of chunk profiles is the profile of the whole (exactly, for
counts, moments, the exact sample and categories), stays within the sketch's stated
rank error past the exact bound, and survives storage."""

import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from apps.backends.jobs.profiles import (
    CategoricalProfile,
    DatasetProfile,
    NumericProfile,
    profile_frame,
    profile_merge,
    profile_parquet,
    rank_error,
)
from apps.backends.jobs.profiles.numeric import sort_values

RNG = np.random.default_rng(3)


def frame(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values = rng.normal(10, 3, rows)
    values[rng.random(rows) < 0.05] = np.nan
    values[:3] = [np.inf, -np.inf, np.nan]
    colour = pd.array(rng.choice(["red", "green", "blue", "cyan"], rows), dtype=object)
    colour[rng.random(rows) < 0.1] = None
    return pd.DataFrame(
        {
            "value": values,
            "count": rng.poisson(4, rows),
            "colour": colour,
            "flag": rng.random(rows) < 0.3,
        }
    )


def merged(parts):
    result = parts[0]
    for part in parts[1:]:
        result = profile_merge(result, part)
    return result


def test_merge_of_chunks_is_the_whole_exactly():
    data = frame(12_000)
    whole = profile_frame(data)
    parts = merged([profile_frame(data.iloc[start : start + 2_500]) for start in range(0, 12_000, 2_500)])
    assert whole.rows == parts.rows == 12_000
    for name in ("value", "count"):
        a, b = whole.columns[name], parts.columns[name]
        assert (a.count, a.missing, a.integer, a.min, a.max) == (b.count, b.missing, b.integer, b.min, b.max)
        assert a.exact and b.exact
        assert np.array_equal(a.sorted_sample(), b.sorted_sample())  # every finite value
        assert a.mean == pytest.approx(b.mean, rel=1e-13)  # Chan's merge: equal up to float rounding
        assert a.m2 == pytest.approx(b.m2, rel=1e-12)
    assert whole.columns["value"].missing == data["value"].isna().sum() + 2  # and the two infinities
    assert whole.columns["value"].std == pytest.approx(np.nanstd(data["value"].replace([np.inf, -np.inf], np.nan)))
    keys, counts = parts.columns["count"].distinct
    expected = data["count"].value_counts().sort_index()
    assert keys.tolist() == expected.index.tolist() and counts.tolist() == expected.tolist()
    for name in ("colour", "flag"):
        a, b = whole.columns[name], parts.columns[name]
        assert a.counts == b.counts and (a.count, a.missing, a.other) == (b.count, b.missing, b.other)
    assert whole.columns["colour"].counts == data["colour"].value_counts().to_dict()
    assert whole.columns["colour"].missing == data["colour"].isna().sum()


def test_past_the_exact_bound_the_merge_stays_within_the_stated_rank_error():
    values = RNG.lognormal(0, 1, 60_000)
    chunks = [profile_frame(pd.DataFrame({"x": part}), exact_bound=5_000) for part in np.array_split(values, 12)]
    column = merged(chunks).columns["x"]
    assert not column.exact and column.sketch.n == 60_000
    assert column.rank_error == rank_error(column.k) == pytest.approx(0.0028, abs=1e-4)
    ordered = np.sort(values)
    ranks = np.linspace(0.01, 0.99, 99)
    quantiles = column.sketch.get_quantiles(ranks)
    true_ranks = np.searchsorted(ordered, quantiles, side="right") / values.size
    assert np.max(np.abs(true_ranks - ranks)) <= column.rank_error
    # counts and moments stay exact past the bound
    assert column.count == 60_000 and column.min == values.min() and column.max == values.max()
    assert column.mean == pytest.approx(values.mean(), rel=1e-12)
    assert column.std == pytest.approx(values.std(), rel=1e-10)


def test_exact_while_the_merge_is_within_the_bound():
    a = profile_frame(pd.DataFrame({"x": np.arange(600.0)}), exact_bound=1_000)
    b = profile_frame(pd.DataFrame({"x": np.arange(400.0)}), exact_bound=1_000)
    assert profile_merge(a, b).columns["x"].exact
    assert not profile_merge(profile_merge(a, b), b).columns["x"].exact


def test_categories_past_the_cap_fold_into_other():
    labels = np.array([f"id-{i}" for i in range(50)])
    data = pd.DataFrame({"id": labels[np.minimum(RNG.geometric(0.15, 5_000), 49)]})
    profile = profile_frame(data, category_cap=10).columns["id"]
    assert len(profile.counts) == 10 and not profile.exact
    assert sum(profile.counts.values()) + profile.other == 5_000
    top = data["id"].value_counts().iloc[:10]
    assert set(profile.counts) == set(top.index)


def test_stored_and_read_back():
    data = frame(3_000)
    exact = profile_frame(data)
    sketched = profile_merge(exact, profile_frame(frame(5_000, seed=1), exact_bound=1_000))
    for profile in (exact, sketched):
        back = DatasetProfile.from_bytes(profile.to_bytes())
        assert back.rows == profile.rows
        for name, column in profile.columns.items():
            other = back.columns[name]
            assert type(other) is type(column) and other.count == column.count and other.missing == column.missing
            if isinstance(column, NumericProfile):
                assert (other.mean, other.m2, other.min, other.max) == (column.mean, column.m2, column.min, column.max)
                assert other.exact == column.exact
                if column.exact:
                    assert np.array_equal(other.sample, column.sample) and other.sample_sorted == column.sample_sorted
                else:
                    assert other.sketch.get_quantiles([0.1, 0.5, 0.9]) == column.sketch.get_quantiles([0.1, 0.5, 0.9])
            else:
                assert other.counts == column.counts
    with pytest.raises(ValueError, match="Not an Atrium profile"):
        DatasetProfile.from_bytes(b"nonsense")


def test_parquet_streamed_in_batches_equals_the_frame(tmp_path):
    data = frame(20_000)
    path = tmp_path / "window.parquet"
    pq.write_table(pa.Table.from_pandas(data, preserve_index=False), path, row_group_size=6_000)
    streamed = profile_parquet(path, batch_rows=1_500)
    whole = profile_frame(data)
    assert streamed.rows == 20_000
    assert np.array_equal(streamed.columns["value"].sorted_sample(), whole.columns["value"].sorted_sample())
    assert streamed.columns["colour"].counts == whole.columns["colour"].counts
    assert streamed.columns["count"].integer and not streamed.columns["value"].integer


def test_a_column_one_part_lacks_is_missing_there_and_types_must_agree():
    a = profile_frame(pd.DataFrame({"x": [1.0, 2.0], "y": ["a", "b"]}))
    b = profile_frame(pd.DataFrame({"x": [3.0]}))
    both = profile_merge(a, b)
    assert both.columns["y"].count == 3 and both.columns["y"].missing == 1
    with pytest.raises(ValueError, match="Cannot merge"):
        profile_merge(a.columns["x"], a.columns["y"])


def test_unprofiled_types_are_listed():
    data = pd.DataFrame({"when": pd.date_range("2026-01-01", periods=4), "x": [1.0, 2, 3, 4]})
    profile = profile_frame(data)
    assert list(profile.columns) == ["x"] and "timestamp" in profile.skipped["when"]


def test_empty_and_all_missing_columns():
    profile = profile_frame(pd.DataFrame({"x": [np.nan, np.nan], "y": pd.array([None, None], dtype=object)}))
    x = profile.columns["x"]
    assert x.n == 0 and math.isinf(x.min) and math.isnan(x.std)
    assert isinstance(profile.columns["y"], CategoricalProfile) and profile.columns["y"].missing == 2
    back = DatasetProfile.from_bytes(profile.to_bytes())
    assert back.columns["x"].n == 0


@pytest.mark.parametrize(
    "values",
    [
        RNG.normal(size=100_000),
        RNG.standard_t(2, 100_000),  # heavy tails: crowded central buckets
        np.append(RNG.normal(size=99_999), 1e300),  # one outlier: every other value in one bucket
        RNG.poisson(3, 100_000).astype(float),  # few values, many ties
        np.full(50_000, 2.5),
        RNG.normal(size=1_000),  # small: np.sort itself
    ],
)
def test_sort_values_is_numpys_sort(values):
    assert np.array_equal(sort_values(values.copy()), np.sort(values))


def test_dictionary_batches_are_counted_by_index_as_batch_by_batch_merges_count_them():
    """Batches sharing a dictionary are counted in NumPy and merged once: the same counts, in
    the same order, as merging each batch's counts (dictionaries that change, categories
    first seen late, nulls, plain string batches between, caps that fold)."""
    from apps.backends.jobs.profiles.categorical import CategoricalBuilder, _value_counts, categorical_merge

    rng = np.random.default_rng(11)
    for _ in range(100):
        names = [f"k{i}" for i in range(rng.integers(1, 30))]
        arrays = []
        for index in range(rng.integers(1, 6)):
            dictionary = pa.array(names if rng.random() < 0.7 else names[::-1])
            codes = rng.integers(0, len(names) if index else max(1, len(names) // 3), size=rng.integers(0, 50))
            arrays.append(
                pa.DictionaryArray.from_arrays(pa.array(codes, mask=rng.random(codes.size) < 0.1), dictionary)
            )
            if rng.random() < 0.3:
                arrays.append(pa.array(rng.choice([*names, "z"], size=10)))
        cap = int(rng.integers(3, 40))
        builder, expected = CategoricalBuilder(cap=cap), CategoricalProfile(cap=cap)
        for array in arrays:
            builder.add(array)
            keys, counts, folded = _value_counts(array, cap)
            batch = CategoricalProfile(len(array), array.null_count, dict(zip(keys, counts, strict=True)), folded, cap)
            expected = categorical_merge(expected, batch)
        got = builder.finish()
        assert (got.count, got.missing, got.other) == (expected.count, expected.missing, expected.other)
        assert list(got.counts.items()) == list(expected.counts.items())
