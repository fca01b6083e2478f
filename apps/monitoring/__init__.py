"""Drift monitoring (issue 12).

``drift`` (the statistics and the report) and the profiles it reads
(``apps.backends.jobs.profiles``: mergeable column profiles, in the jobs package so
that the cluster program that profiles a window where it lives imports them as they
are) are pure Python over NumPy, SciPy, pyarrow and datasketches: no Django, and
absolute imports only. The Django side (monitors, stored reports, pages, alerts)
builds on them.
"""
