"""Reads of monitoring, team-scoped: monitors, their reports over time, a report's columns.
Pages and the API read stored results only; nothing here computes a statistic."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from django.db.models import Case, Count, Prefetch, Q, QuerySet, Value, When
from django.utils import timezone

from apps.core.scoping import team_scoped

from .models import ColumnResult, DriftAlert, DriftReport, Monitor, MonitorStatus, ReportStatus, Retraining

TREND_WINDOWS = 30  # windows in a monitor's trend (fleet view) and charts
TREND_SPAN = timedelta(days=31)  # read no further back for a trend (an hourly monitor's 744 windows at most)
HISTORY_WINDOWS = 90  # windows a monitor's page draws (a quarter of daily windows)


def monitors_visible(*, user) -> QuerySet[Monitor]:
    return team_scoped(Monitor.objects.all(), user=user).select_related("team", "created_by")


def monitor_table(*, user) -> QuerySet[Monitor]:
    """The fleet: monitors with their open alerts counted (in the same query)."""
    return (
        monitors_visible(user=user)
        .annotate(open_alerts=Count("alerts", filter=Q(alerts__resolved_at__isnull=True)))
        .order_by("name", "pk")
    )


def monitor_get(*, user, pk) -> Monitor:
    """A monitor the user may see; Monitor.DoesNotExist (a 404) otherwise."""
    return monitors_visible(user=user).get(pk=pk)


def monitors_for_home(*, user, limit: int = 6) -> list[Monitor]:
    """The teams' monitors, those drifting or failing first."""
    rank = Case(
        When(status=MonitorStatus.DRIFT, then=Value(0)),
        When(status=MonitorStatus.ERROR, then=Value(1)),
        default=Value(2),
    )
    return list(monitors_visible(user=user).order_by(rank, "-last_window_end", "name")[:limit])


def alert_list(*, monitor: Monitor) -> QuerySet[DriftAlert]:
    """A monitor's alerts (its visibility checked by the caller), newest first."""
    retrainings = Retraining.objects.select_related("run", "model_version__model", "promotion_request")
    return monitor.alerts.order_by("-created_at").prefetch_related(Prefetch("retrainings", queryset=retrainings))


def reports_visible(*, user) -> QuerySet[DriftReport]:
    return team_scoped(DriftReport.objects.all(), user=user).select_related("team", "monitor", "run", "created_by")


def report_get(*, user, pk) -> DriftReport:
    return reports_visible(user=user).prefetch_related("column_results").get(pk=pk)


def report_list(*, user, monitor=None) -> QuerySet[DriftReport]:
    reports = reports_visible(user=user)
    if monitor is not None:
        reports = reports.filter(monitor=monitor).order_by("-window_end", "-created_at")
    return reports


def monitor_trends(*, monitors: list[Monitor], windows: int = TREND_WINDOWS) -> dict:
    """Each monitor's drift share over its last ``windows`` windows, oldest first: one query."""
    ids = [m.pk for m in monitors]
    since = timezone.now() - TREND_SPAN
    rows = (
        DriftReport.objects.filter(monitor_id__in=ids, status=ReportStatus.SUCCEEDED, window_end__gte=since)
        .order_by("monitor_id", "-window_end")
        .values_list("monitor_id", "window_end", "drift_share")
    )
    trends: dict = defaultdict(list)
    for monitor_id, window_end, share in rows:  # bounded below, per monitor
        if len(trends[monitor_id]) < windows:
            trends[monitor_id].append((window_end, share))
    return {key: list(reversed(value)) for key, value in trends.items()}


def monitor_history(*, monitor: Monitor, windows: int = HISTORY_WINDOWS) -> list[DriftReport]:
    """The monitor's last windows, oldest first, with their columns' results."""
    reports = list(
        monitor.reports.order_by("-window_end").prefetch_related(
            Prefetch("column_results", queryset=ColumnResult.objects.defer("distribution"))
        )[:windows]
    )
    return list(reversed(reports))


def columns_sorted(report: DriftReport) -> list[ColumnResult]:
    """A report's columns, drifted first, then by how far past its threshold each is."""

    def key(row: ColumnResult):
        if row.p_value is not None:
            closeness = -(row.threshold / row.p_value) if row.p_value else float("-inf")
        else:
            closeness = -((row.statistic if row.statistic is not None else float("inf")) / row.threshold)
        return (not row.drifted, closeness, row.column)

    return sorted(report.column_results.all(), key=key)
