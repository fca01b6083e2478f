"""How the rollout controller judges a candidate against the baseline."""

from apps.deployments.rollouts import judge, rollout_plan
from apps.deployments.telemetry import Figures


def figures(requests, errors=0, p95=10.0, client_errors=0):
    return Figures(requests, errors, client_errors, p95, p95 / 2, p95, p95)


def test_too_few_requests_to_judge():
    verdict = judge(figures(5), figures(100), {"min_requests": 20})
    assert verdict.healthy is None and verdict.reason.startswith("5 of the 20 requests")


def test_errors_absolute_and_relative_to_the_baseline():
    assert judge(figures(100, 1), figures(100, 0), {}).healthy is True
    absolute = judge(figures(100, 10), figures(100, 9), {"max_error_rate_increase": 0.5})
    assert absolute.healthy is False and "error rate 10.0% is above 5.0%" in absolute.reason
    relative = judge(figures(100, 4), figures(100, 0), {})
    assert relative.healthy is False and "4.0% above the baseline's 0.0%" in relative.reason


def test_4xx_only_relative_to_the_baseline():
    # Clients' bad requests are refused by every variant alike: not the candidate's doing.
    assert judge(figures(100, client_errors=30), figures(300, client_errors=80), {}).healthy is True
    # A candidate refusing what the baseline serves (Databricks answers a failing model 400).
    refusing = judge(figures(100, client_errors=100), figures(300), {})
    assert refusing.healthy is False
    assert refusing.reason.startswith("4xx rate 100.0% is 100.0% above the baseline's 0.0% (at most 5.0%)")
    # Without enough baseline traffic to compare with, 4xx alone do not roll back.
    assert judge(figures(100, client_errors=100), figures(5), {}).healthy is True


def test_latency_against_the_baseline_beyond_noise():
    assert judge(figures(100, p95=30), figures(100, p95=10), {}).healthy is True  # 3x, but within 50 ms
    slow = judge(figures(100, p95=300), figures(100, p95=100), {})
    assert slow.healthy is False and "p95 latency 300 ms is over 2× the baseline's 100 ms" in slow.reason
    capped = judge(figures(100, p95=80), figures(100, p95=70), {"max_p95_ms": 50})
    assert capped.healthy is False and "above 50 ms" in capped.reason


def test_plans():
    assert rollout_plan(strategy="all_at_once") == []
    assert rollout_plan(strategy="canary", percent=10, bake_seconds=60) == [(10, 60)]
    assert rollout_plan(strategy="linear", step_percent=25, interval_seconds=30) == [
        (25, 30),
        (50, 30),
        (75, 30),
        (100, 30),
    ]
    assert rollout_plan(strategy="blue_green", termination_wait_seconds=600) == [(100, 600)]
