"""The CloudWatch alarms a guarded deployment creates, and SageMaker rolls it back on.

One endpoint, one baseline variant: its variant name stays through a
blue/green update, so alarms on ``EndpointName`` + ``VariantName`` watch the
old fleet and then the new one as traffic moves. Names come from the endpoint
(``atrium-<endpoint>-errors``, ``atrium-<endpoint>-p95``), so PutMetricAlarm,
which creates or replaces, makes a redelivered submit harmless; the endpoint's
deletion deletes them.

* errors: ``Invocation5XXErrors`` is 1 for an invocation that failed with a 5xx
  and 0 otherwise, so its Average over a minute is the error rate, compared
  with the rollout's ``max_error_rate``.
* p95 latency: ``ModelLatency`` (microseconds) with the extended statistic
  ``p95``, compared with ``max_p95_ms`` × 1000; only when that is set.
"""

from __future__ import annotations

from ..base import Guardrails
from .client import aws_tags

NAMESPACE = "AWS/SageMaker"
PERIOD_SECONDS = 60  # SageMaker publishes invocation metrics every minute
KINDS = ("errors", "p95")


def alarm_name(endpoint: str, kind: str) -> str:
    return f"atrium-{endpoint}-{kind}"


def names(endpoint: str, guardrails: Guardrails) -> list[str]:
    """The alarms a deployment of ``endpoint`` with ``guardrails`` creates."""
    return [alarm_name(endpoint, kind) for kind in KINDS if kind == "errors" or guardrails.max_p95_ms is not None]


def alarm_requests(endpoint: str, variant: str, guardrails: Guardrails) -> list[dict]:
    """PutMetricAlarm's arguments (but the tags) for each alarm of ``names``."""
    watched = {
        "Namespace": NAMESPACE,
        "Dimensions": [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}],
        "Period": PERIOD_SECONDS,
        "EvaluationPeriods": 1,
        "ComparisonOperator": "GreaterThanThreshold",
        # A minute without traffic is no evidence against the new fleet: it bakes on.
        "TreatMissingData": "notBreaching",
    }
    requests = [
        {
            "AlarmName": alarm_name(endpoint, "errors"),
            "AlarmDescription": f"Atrium: a deployment of {endpoint} rolls back when more than "
            f"{guardrails.max_error_rate:.1%} of a minute's invocations of {variant} fail (5xx).",
            "MetricName": "Invocation5XXErrors",
            "Statistic": "Average",
            "Threshold": float(guardrails.max_error_rate),
            **watched,
        }
    ]
    if guardrails.max_p95_ms is not None:
        requests.append(
            {
                "AlarmName": alarm_name(endpoint, "p95"),
                "AlarmDescription": f"Atrium: a deployment of {endpoint} rolls back when a minute's p95 model "
                f"latency of {variant} is above {guardrails.max_p95_ms:g} ms.",
                "MetricName": "ModelLatency",
                "ExtendedStatistic": "p95",
                "Threshold": float(guardrails.max_p95_ms) * 1000,  # ModelLatency is in microseconds
                **watched,
            }
        )
    return requests


def ensure(cloudwatch, endpoint: str, variant: str, guardrails: Guardrails, tags: dict[str, str]) -> list[str]:
    """Create or update the deployment's alarms (and drop a latency alarm no longer asked for): their names."""
    wanted = alarm_requests(endpoint, variant, guardrails)
    for request in wanted:
        cloudwatch.put_metric_alarm(**request, Tags=aws_tags(tags))  # tags count on creation only
        # An update keeps the alarm's state: one left in ALARM by the last deployment would roll this
        # one back before its new fleet served a request. Its next evaluation, a minute on, judges it.
        cloudwatch.set_alarm_state(
            AlarmName=request["AlarmName"], StateValue="OK", StateReason="Reset by Atrium for a new deployment"
        )
    made = [request["AlarmName"] for request in wanted]
    _delete(cloudwatch, [alarm_name(endpoint, kind) for kind in KINDS if alarm_name(endpoint, kind) not in made])
    return made


def delete(cloudwatch, endpoint: str) -> None:
    """Delete the endpoint's alarms, those that exist."""
    _delete(cloudwatch, [alarm_name(endpoint, kind) for kind in KINDS])


def _delete(cloudwatch, candidates: list[str]) -> None:
    if not candidates:  # DescribeAlarms with no names lists every alarm of the account
        return
    # DeleteAlarms may refuse a name that does not exist: delete only those found.
    found = cloudwatch.describe_alarms(AlarmNames=candidates, AlarmTypes=["MetricAlarm"])["MetricAlarms"]
    if found:
        cloudwatch.delete_alarms(AlarmNames=[alarm["AlarmName"] for alarm in found])


def tripped(cloudwatch, alarm_names: list[str]) -> list[str]:
    """Of ``alarm_names``, those in ALARM now, each with CloudWatch's reason."""
    if not alarm_names:
        return []
    found = cloudwatch.describe_alarms(AlarmNames=alarm_names)
    alarms = found.get("MetricAlarms", []) + found.get("CompositeAlarms", [])
    return [
        f"{alarm['AlarmName']} ({alarm.get('StateReason') or 'in ALARM'})"
        for alarm in alarms
        if alarm.get("StateValue") == "ALARM"
    ]
