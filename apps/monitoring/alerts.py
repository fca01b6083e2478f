"""Alert rules on a monitor's windows, de-duplicated and resolved on their own.

* dataset drift: open when a window's dataset drifts, resolved by the first window that does not;
* a feature drifting ``alert_feature_windows`` windows in a row: open then, resolved by the
  first window where that feature does not drift;
* a missing-value jump: a feature's missing share up by more than ``alert_missing_jump``
  percentage points on the reference's, resolved by the first window where it no longer is.

One open alert per monitor, rule and feature (a constraint, not only a check): a drifting
window while it is open counts on it instead of opening another. Opening tells the owning
team in the portal (and by e-mail, through ``apps.notifications``); resolving tells them too.
Windows without data (or that failed) neither open nor resolve anything. An alert of the
monitor's ``retrain_on`` rule starts its retraining template (``retraining``).
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.notifications.models import Notification
from apps.notifications.services import notify_users

from .models import AlertRule, ColumnResult, DriftAlert, DriftReport, Monitor, ReportStatus
from .retraining import retraining_start
from .webhooks import alert_payload, webhook_enqueue


def _recipients(monitor: Monitor) -> list:
    return list(monitor.team.members.filter(is_active=True))


def _open(monitor: Monitor, report: DriftReport, rule: str, column: str, message: str) -> DriftAlert | None:
    try:
        with transaction.atomic():
            alert = DriftAlert.objects.create(
                monitor=monitor,
                rule=rule,
                column=column,
                message=message[:500],
                opened_report=report,
                last_report=report,
            )
            webhook_enqueue(
                monitor=monitor,
                payload=alert_payload(event="alert.opened", monitor=monitor, alert=alert, report=report),
                alert=alert,
            )
            notify_users(
                users=_recipients(monitor),
                message=f"Drift alert on {monitor.name}: {message}",
                url=monitor.get_absolute_url(),
                subject=f"[Atrium] Drift alert: {monitor.name}",
                level=Notification.Level.ACTION,
            )
    except IntegrityError:  # another worker opened it first
        return None
    return alert


def _resolve(monitor: Monitor, alert: DriftAlert, report: DriftReport) -> None:
    with transaction.atomic():
        if not DriftAlert.objects.filter(pk=alert.pk, resolved_at__isnull=True).update(
            resolved_at=timezone.now(), last_report=report
        ):
            return  # resolved by another worker
        alert.resolved_at = timezone.now()
        webhook_enqueue(
            monitor=monitor,
            payload=alert_payload(event="alert.resolved", monitor=monitor, alert=alert, report=report),
            alert=alert,
        )
        back = f"the window to {report.window_end:%Y-%m-%d %H:%M} UTC is back within its thresholds"
        notify_users(
            users=_recipients(monitor),
            message=f"Resolved on {monitor.name}: {alert.message} ({back}).",
            url=monitor.get_absolute_url(),
            subject=f"[Atrium] Drift resolved: {monitor.name}",
            level=Notification.Level.SUCCESS,
        )


def _streaks(monitor: Monitor, drifted: set[str], windows: int) -> dict[str, int]:
    """For each drifted feature, how many of the monitor's last ``windows`` evaluated windows
    in a row (newest first) it drifted in: one query."""
    last = list(
        monitor.reports.filter(status=ReportStatus.SUCCEEDED)
        .order_by("-window_end")
        .values_list("pk", flat=True)[:windows]
    )
    rows = ColumnResult.objects.filter(report_id__in=last, column__in=drifted).values_list(
        "report_id", "column", "drifted"
    )
    seen = {(report_id, column): flag for report_id, column, flag in rows}
    streaks = {}
    for column in drifted:
        count = 0
        for report_id in last:
            if not seen.get((report_id, column)):
                break
            count += 1
        streaks[column] = count
    return streaks


def alerts_evaluate(*, monitor: Monitor, report: DriftReport) -> list[DriftAlert]:
    """Apply the monitor's rules to its newest window; the alerts it opened."""
    if report.status != ReportStatus.SUCCEEDED:
        return []
    opened = []
    open_alerts = {(a.rule, a.column): a for a in monitor.alerts.filter(resolved_at__isnull=True)}
    results = list(report.column_results.values_list("column", "drifted", "missing_share", "missing_share_reference"))
    drifted = {column for column, flag, _, _ in results if flag}

    def hold(alert: DriftAlert) -> None:
        DriftAlert.objects.filter(pk=alert.pk).update(windows=alert.windows + 1, last_report=report)

    key = (AlertRule.DATASET_DRIFT, "")
    if report.dataset_drift and monitor.alert_on_dataset_drift:
        if key in open_alerts:
            hold(open_alerts[key])
        else:
            share = f"{report.n_drifted} of {report.n_columns} features drifted"
            opened.append(_open(monitor, report, AlertRule.DATASET_DRIFT, "", f"the dataset drifted ({share})."))
    elif key in open_alerts:
        _resolve(monitor, open_alerts[key], report)

    windows = monitor.alert_feature_windows
    streaks = _streaks(monitor, drifted, windows) if windows and drifted else {}
    for column in sorted(drifted):
        key = (AlertRule.FEATURE_STREAK, column)
        if key in open_alerts:
            hold(open_alerts[key])
        elif windows and streaks.get(column, 0) >= windows:  # 0: the rule is off
            message = f"{column} drifted {windows} windows in a row."
            opened.append(_open(monitor, report, AlertRule.FEATURE_STREAK, column, message))
    for (rule, column), alert in open_alerts.items():
        if rule == AlertRule.FEATURE_STREAK and column not in drifted:
            _resolve(monitor, alert, report)
    opened += _missing_jumps(monitor, report, results, open_alerts, hold)
    opened = [alert for alert in opened if alert is not None]
    # One retraining for the window, however many alerts of the rule it opened (one per feature).
    trigger = next((alert for alert in opened if alert.rule == monitor.retrain_on), None)
    if monitor.retrain_template and trigger is not None:
        retraining_start(monitor=monitor, alert=trigger, report=report)
    return opened


def _missing_jumps(monitor: Monitor, report: DriftReport, results: list, open_alerts: dict, hold) -> list:
    """Features whose missing share rose more than ``alert_missing_jump`` points on the reference's."""
    points = monitor.alert_missing_jump
    opened, jumped = [], set()
    for column, _, missing, missing_reference in results if points else []:
        rise = (missing - missing_reference) * 100
        if rise <= points:
            continue
        jumped.add(column)
        key = (AlertRule.MISSING_JUMP, column)
        if key in open_alerts:
            hold(open_alerts[key])
        else:
            share = f"{missing:.0%} of rows (reference {missing_reference:.0%})"
            message = f"{column} is missing in {share}: up {rise:.0f} points."
            opened.append(_open(monitor, report, AlertRule.MISSING_JUMP, column, message))
    for (rule, column), alert in open_alerts.items():
        if rule == AlertRule.MISSING_JUMP and column not in jumped:
            _resolve(monitor, alert, report)
    return opened
