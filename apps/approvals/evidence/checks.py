"""TEMPORARY placeholders until the evidence branch lands (replaced by the real checks)."""

from . import CheckResult, check_register

for _position, (_key, _label, _settings) in enumerate(
    [
        ("champion", "Against the champion", {"max_drop": 0.01}),
        ("explainability", "Explainability", {"max_share": 0.8}),
        ("bias", "Bias", {"max_disparity": 0.1}),
        ("latency", "Latency", {"max_p95_ms": None, "batch_rows": 32}),
        ("cost", "Cost", {"max_monthly": None, "requests_per_second": 1}),
        ("lineage", "Lineage", {}),
    ]
):
    check_register(_key, label=_label, position=_position, settings=_settings)(
        lambda ctx: CheckResult(status="not_applicable", summary="placeholder")
    )
