"""The drift engine: Evidently's DataDriftPreset, vectorised, on mergeable profiles.

* ``statistics``: the ten statistics, one function each;
* ``binning``: bins and shares as Evidently makes them (Sturges edges, its epsilon);
* ``methods``: the methods by name, their thresholds and Evidently's default choice;
* ``report``: ``drift_report`` and its typed results;
* ``empirical`` / ``sides``: a column's values and counts as the statistics read them,
  from an exact sample or a KLL sketch; ``effects``: what moved, in words.
"""

from apps.monitoring.drift.methods import METHODS, default_method
from apps.monitoring.drift.report import ColumnDrift, ColumnOptions, DriftOptions, DriftReport, drift_report

__all__ = ["METHODS", "ColumnDrift", "ColumnOptions", "DriftOptions", "DriftReport", "default_method", "drift_report"]
