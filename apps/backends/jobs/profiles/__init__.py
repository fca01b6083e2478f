"""Mergeable profiles of datasets: built once from data (streamed Parquet, a DataFrame,
chunk by chunk on a cluster), stored as bytes, merged exactly, and read by the drift
engine instead of the data. See ``numeric`` and ``categorical`` for what a column's
profile holds and where it stops being exact."""

from apps.backends.jobs.profiles.categorical import CATEGORY_CAP, CategoricalProfile
from apps.backends.jobs.profiles.dataset import ColumnProfile, DatasetProfile, profile_merge
from apps.backends.jobs.profiles.numeric import DISTINCT_CAP, EXACT_BOUND, KLL_K, NumericProfile, rank_error
from apps.backends.jobs.profiles.readers import BATCH_ROWS, profile_frame, profile_parquet

__all__ = [
    "BATCH_ROWS",
    "CATEGORY_CAP",
    "DISTINCT_CAP",
    "EXACT_BOUND",
    "KLL_K",
    "CategoricalProfile",
    "ColumnProfile",
    "DatasetProfile",
    "NumericProfile",
    "profile_frame",
    "profile_merge",
    "profile_parquet",
    "rank_error",
]
