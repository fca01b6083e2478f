"""The cluster program's profiling of a window: chunk profiles merged pairwise come to the
profile of the whole window (the exact sample in the rows' order, counts, moments), and a
captured request's rows are read as the portal's capture reads them."""

import numpy as np
import pandas as pd
import pytest

from apps.backends.jobs.capture_rows import masked, request_rows, rows_table
from apps.backends.jobs.profile_job import Merging
from apps.backends.jobs.profiles import profile_frame


@pytest.mark.parametrize("chunk", [1, 7, 100, 5000])
def test_chunk_profiles_merge_into_the_profile_of_the_whole_window(chunk):
    rng = np.random.default_rng(chunk)
    data = pd.DataFrame({"x": rng.normal(size=1037), "city": rng.choice(["Oslo", "Lima", "Pune"], 1037)})
    merging = Merging()
    for start in range(0, len(data), chunk):
        merging.add(profile_frame(data.iloc[start : start + chunk]))
    merged, whole = merging.result(), profile_frame(data)
    assert merged.rows == whole.rows == 1037
    assert np.array_equal(merged.columns["x"].sample, whole.columns["x"].sample)  # every value, in order
    assert merged.columns["x"].m2 == pytest.approx(whole.columns["x"].m2, rel=1e-12)
    assert merged.columns["city"].counts == whole.columns["city"].counts
    assert len(merging.stack) <= int(np.log2(max(1, len(data) // chunk))) + 2  # a few profiles held, not one a chunk


def test_every_scoring_format_gives_the_same_rows_and_sensitive_columns_are_masked():
    rows = [{"age": 31, "ssn": "123"}, {"age": 40, "ssn": "456"}]
    bodies = [
        '{"dataframe_records": [{"age": 31, "ssn": "123"}, {"age": 40, "ssn": "456"}]}',
        '{"dataframe_split": {"columns": ["age", "ssn"], "data": [[31, "123"], [40, "456"]]}}',
        '{"inputs": {"age": [31, 40], "ssn": ["123", "456"]}}',
        '{"client_request_id": "c-1", "instances": [{"age": 31, "ssn": "123"}, {"age": 40, "ssn": "456"}]}',
    ]
    for body in bodies:
        assert request_rows(body) == rows
    table = rows_table(masked(request_rows(bodies[0]), {"ssn"}) + request_rows("not json"))
    assert table.column_names == ["age", "ssn"]  # the unparsed body is no feature
    assert table.column("ssn").to_pylist() == ["***", "***", None]
