"""The evidence pack's own checks (champion, explainability, bias, latency, cost, lineage).

Each lives in a module of its own concern and registers itself on import;
what the scoring checks share (held-out data, loaded models) is ``scoring``.
"""

from . import bias, champion, cost, explain, latency, lineage  # noqa: F401 - registers the checks
