"""The fields of a column's drift result, as the API and the stored per-feature rows give them.
Plain Python: the models import it without loading the engine (NumPy, SciPy, pyarrow)."""

COLUMN_FIELDS = (
    "method",
    "statistic",
    "threshold",
    "drifted",
    "p_value",
    "effect",
    "n_reference",
    "n_current",
    "missing_share",
    "new_categories",
    "exact",
    "rank_error",
)
