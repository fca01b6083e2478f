"""The evidence pack's own checks (champion, explainability, bias, latency, cost, lineage)."""
