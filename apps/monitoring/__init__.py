"""Drift monitoring (issue 12).

``profiles`` (mergeable column profiles) and ``drift`` (the statistics and the report)
are pure Python over NumPy, SciPy, pyarrow and datasketches: no Django, and absolute
imports only, so a job on a cluster can import them as they are. The Django side
(monitors, stored reports, pages, alerts) builds on them.
"""
