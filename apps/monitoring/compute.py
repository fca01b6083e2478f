"""The work behind a report, in workers only: both sides profiled (streamed) or read from
the monitor's stored reference profile, the drift engine run on the profiles, and the
verdict and each column's result stored. An ad-hoc report is a step of a run of kind
"drift" (``DriftStep``); a monitor's window is evaluated by the beat (``tasks``)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from apps.backends.base import BackendError, JobState, JobStatus
from apps.backends.jobs.profiles import DatasetProfile
from apps.core.errors import DomainError
from apps.runs.models import RunKind
from apps.runs.operations import Operation
from apps.runs.services import plan_run_create

from . import cloud_windows
from .alerts import alerts_evaluate
from .drift import drift_report
from .models import (
    SCHEDULE_SECONDS,
    ColumnResult,
    DriftReport,
    Monitor,
    MonitorStatus,
    ReportStatus,
    Schedule,
    Source,
)
from .overlays import overlay
from .schedules import CronError, cron_parse, volume_count
from .sources import (
    MAX_WINDOW,
    Side,
    SideError,
    dataset_profile,
    side_of,
    side_profile,
    training_profile,
    window_profile,
)

logger = logging.getLogger(__name__)


def _finite(value):
    return value if value is None or math.isfinite(value) else None


def report_store(*, report: DriftReport, reference: DatasetProfile, current: DatasetProfile) -> DriftReport:
    """Run the engine on two profiles and store the verdict and a row per column."""
    # every column both sides have is tested; the options override a column's method and threshold
    result = drift_report(reference, current, options={"columns": report.columns_options or {}})
    skipped = {str(name): str(why) for name, why in result.skipped.items()}
    for name in report.columns_options or {}:
        if name not in result.columns and name not in skipped:
            skipped[name] = "not in both datasets"
    rows = [
        ColumnResult(
            report=report,
            column=name,
            column_type=column.column_type,
            method=column.method,
            statistic=_finite(column.statistic),
            threshold=column.threshold,
            drifted=column.drifted,
            p_value=_finite(column.p_value),
            effect=column.effect,
            n_reference=column.n_reference,
            n_current=column.n_current,
            missing_share=column.missing_share,
            missing_share_reference=column.missing_share_reference,
            new_categories=[str(value) for value in column.new_categories[:100]],
            exact=column.exact,
            rank_error=column.rank_error,
            distribution=overlay(reference.columns[name], current.columns[name]),
        )
        for name, column in result.columns.items()
    ]
    with transaction.atomic():
        ColumnResult.objects.filter(report=report).delete()  # a step polled twice stores once
        ColumnResult.objects.bulk_create(rows)
        report.status = ReportStatus.SUCCEEDED
        report.dataset_drift = result.dataset_drift
        report.drift_share = result.drift_share
        report.drift_share_threshold = result.drift_share_threshold
        report.n_columns = len(rows)
        report.n_drifted = sum(row.drifted for row in rows)
        report.rows_reference, report.rows_current = reference.rows, current.rows
        report.skipped = skipped
        report.message = summary(report)
        report.finished_at = timezone.now()
        report.save()
    return report


def summary(report: DriftReport) -> str:
    if report.status == ReportStatus.SUCCEEDED:
        verdict = "Dataset drift" if report.dataset_drift else "No dataset drift"
        return f"{verdict}: {report.n_drifted} of {report.n_columns} columns drifted."
    return report.message


def _report_end(report: DriftReport, status: str, message: str) -> DriftReport:
    report.status, report.message, report.finished_at = status, message[:2000], timezone.now()
    report.save(update_fields=["status", "message", "finished_at", "updated_at"])
    return report


def _profile_or_none(profile: DatasetProfile | None) -> DatasetProfile | None:
    return profile if profile is None or profile.rows else None  # a window profiled in a cloud, empty


def report_compute(*, report_id, profiles: dict[str, DatasetProfile] | None = None) -> DriftReport:
    """An ad-hoc report's two sides profiled and compared (idempotent: a done report is kept).
    ``profiles``: sides already profiled where they live (``cloud_windows``), by side name."""
    report = DriftReport.objects.get(pk=report_id)
    if report.is_done:
        return report
    if report.monitor_id:
        return _monitor_report_compute(report, profiles or {})
    profiles = profiles or {}
    try:
        reference = profiles["reference"] if "reference" in profiles else side_profile(side_of(report.reference))
        current = profiles["current"] if "current" in profiles else side_profile(side_of(report.current))
        reference, current = _profile_or_none(reference), _profile_or_none(current)
    except (SideError, OSError, ValueError) as error:  # ValueError: a file that is not what it says
        return _report_end(report, ReportStatus.FAILED, str(error))
    if reference is None or current is None:
        which = "reference" if reference is None else "current data"
        return _report_end(report, ReportStatus.NO_DATA, f"No captured rows in the {which}'s window.")
    try:
        return report_store(report=report, reference=reference, current=current)
    except ValueError as error:  # a method that does not apply to a column's type, a type that changed
        return _report_end(report, ReportStatus.FAILED, str(error))


def report_compute_safely(*, report_id, profiles: dict[str, DatasetProfile] | None = None) -> DriftReport:
    """``report_compute``, with a bug ending the report readably rather than leaving it pending."""
    try:
        return report_compute(report_id=report_id, profiles=profiles)
    except Exception as error:
        logger.exception("drift report %s: computing it failed", report_id)
        report = DriftReport.objects.get(pk=report_id)
        message = f"Atrium could not compute this report ({type(error).__name__}); the details are in the worker's log."
        return _report_end(report, ReportStatus.FAILED, message)


def report_run_ended(run) -> None:
    """Hook: a drift run that failed or was cancelled before its report was done ends the report
    too (and a monitor's window: its status says so)."""
    if run.kind != RunKind.DRIFT:
        return
    for report in DriftReport.objects.filter(run=run, status=ReportStatus.PENDING):
        _report_end(report, ReportStatus.FAILED, run.status_message or f"The run was {run.status}.")
        if report.monitor_id:
            _monitor_window_end(report)


DRIFT_ACTION = "drift_report"  # the step's action: not a run kind, so no template or POST /runs/ names it


class DriftStep(Operation):
    """Computes one drift report (an ad-hoc one, or a monitor's window that lives in a
    cloud) in the worker: profiles streamed in bounded memory, and a window that lives
    in a cloud profiled there by a job (``cloud_windows``: submitted here, polled until
    its profile can be read), so the worker never loads a large window."""

    kind = DRIFT_ACTION
    says_why = True

    def validate(self, params):
        return {} if params.get("report_id") else {"report_id": ["Required."]}

    def submit(self, backend, job):
        # the report's own run only: a step's params never reach another team's report
        report = DriftReport.objects.filter(pk=job.params["report_id"], run__steps__idempotency_key=job.key).first()
        if report is None:
            raise BackendError("This step's drift report belongs to another run.", permanent=True)
        jobs = cloud_windows.windows_submit(_cloud_sides(report), key=job.key, tags=job.tags)
        return cloud_windows.external_id_of(report.pk, jobs)

    def poll(self, backend, job):
        profiles = {}
        if jobs := cloud_windows.jobs_of(job.external_id):
            report = DriftReport.objects.get(pk=job.params["report_id"])
            status, profiles = cloud_windows.windows_poll(_cloud_sides(report, all_windows=True), jobs)
            if status.state == JobState.RUNNING:
                return status
            if status.state == JobState.FAILED and not report.is_done:
                _report_end(report, ReportStatus.FAILED, status.message)
                if report.monitor_id:
                    _monitor_window_end(report)
        report = report_compute_safely(report_id=job.params["report_id"], profiles=profiles)
        outputs = {"report_id": str(report.pk), "status": report.status}
        if report.status == ReportStatus.FAILED:
            return JobStatus(state=JobState.FAILED, message=report.message[:500], outputs=outputs)
        if report.status == ReportStatus.SUCCEEDED:
            outputs.update(dataset_drift=report.dataset_drift, drift_share=report.drift_share)
        return JobStatus(state=JobState.SUCCEEDED, progress=100, message=report.message[:500], outputs=outputs)


# --- monitors ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """A monitor's window to evaluate: ``start``/``end`` given for cron and capture-volume
    windows; None for hourly and daily ones (the last ``window_hours`` when evaluated)."""

    monitor_id: str
    start: datetime | None = None
    end: datetime | None = None


def monitors_claim_due(*, now=None, limit: int = 100) -> list[Claim]:
    """Claim the monitors whose window is due: each moves its ``next_due_at`` on by its
    schedule (compare-and-swap), so two beat ticks never evaluate one window twice. A volume
    monitor is due here only when someone asked for a window now (``monitor_evaluate_now``)."""
    now = now or timezone.now()
    due = Monitor.objects.filter(enabled=True, next_due_at__lte=now).values_list(
        "pk", "next_due_at", "schedule", "cron", "volume_since"
    )
    claimed = []
    for pk, due_at, schedule, expression, since in due[:limit]:
        start = end = following = None
        changes = {}
        if schedule == Schedule.CRON:
            try:
                cron = cron_parse(expression)
            except CronError as error:  # saved before it was checked: stop rather than fail every tick
                Monitor.objects.filter(pk=pk, next_due_at=due_at).update(
                    next_due_at=None, status=MonitorStatus.ERROR, status_message=str(error)
                )
                continue
            start, end = cron.window(due_at=due_at, now=now)
            following = cron.next_after(max(due_at, now))
        elif schedule == Schedule.VOLUME:
            start, end = since or now - timedelta(hours=24), now
            changes = {"volume_since": now, "volume_seen": 0}
        else:
            following = max(due_at, now) + timedelta(seconds=SCHEDULE_SECONDS[schedule])
        if Monitor.objects.filter(pk=pk, next_due_at=due_at).update(next_due_at=following, **changes):
            claimed.append(Claim(str(pk), start, end))
    return claimed


def volume_claim_due(*, now=None, limit: int = 100, monitor_id=None) -> list[Claim]:
    """Count each capture-volume monitor's new captured rows (listings and footers only) and
    claim a window for those past their ``volume_rows``: the rows since the last window.
    ``monitor_id``: that monitor only (the demo command)."""
    now = now or timezone.now()
    monitors = Monitor.objects.filter(enabled=True, schedule=Schedule.VOLUME, source=Source.ENDPOINT)
    if monitor_id is not None:
        monitors = monitors.filter(pk=monitor_id)
    monitors = monitors.values_list(
        "pk", "endpoint_name", "volume_rows", "volume_seen", "volume_since", "volume_cursor"
    )
    claimed = []
    for pk, endpoint, threshold, seen, stored_since, cursor in monitors[:limit]:
        since = stored_since or now
        try:
            counted = volume_count(endpoint=endpoint, since=since, cursor=cursor or {}, until=now)
        except (OSError, ValueError) as error:  # a store away, an unreadable footer: counted next tick
            logger.warning("monitor %s: counting captured rows failed: %s", pk, error)
            continue
        total = seen + counted.rows
        due = bool(threshold) and total >= threshold
        changes = {"volume_cursor": counted.cursor, "volume_seen": 0 if due else total}
        if due:
            changes["volume_since"] = now
        # compare-and-swap on what was read: a tick running alongside never counts a file twice
        if Monitor.objects.filter(pk=pk, volume_seen=seen, volume_since=stored_since).update(**changes) and due:
            claimed.append(Claim(str(pk), since, now))
    return claimed


def _reference_profile(monitor: Monitor) -> DatasetProfile:
    """The monitor's reference: profiled once (the first window), then read from its bytes."""
    if monitor.reference_profile:
        return DatasetProfile.from_bytes(bytes(monitor.reference_profile))
    if "model_version" in monitor.reference:
        profile = training_profile(user=monitor.created_by, version_id=monitor.reference["model_version"])
    elif "dataset" in monitor.reference:
        profile = dataset_profile(monitor.reference["dataset"])
    else:
        side = side_of({"endpoint": monitor.endpoint_name, **monitor.reference})
        profile = window_profile(side) or DatasetProfile()
    _reference_store(monitor, profile)
    return profile


def _cloud_sides(report: DriftReport, *, all_windows: bool = False) -> dict[str, Side]:
    """The report's sides a cloud may profile: its windows. A monitor's reference only while
    it has no stored profile (it is profiled once); ``all_windows``: every window side."""
    stored = {"reference": report.reference, "current": report.current}
    if report.monitor_id and not all_windows:
        has_profile = Monitor.objects.filter(pk=report.monitor_id, reference_profile__isnull=False).exists()
        if has_profile:
            stored.pop("reference")
    return {name: side_of(value) for name, value in stored.items() if "endpoint" in value and "start" in value}


def _monitor_report_compute(report: DriftReport, profiles: dict[str, DatasetProfile]) -> DriftReport:
    """A monitor's window whose sides were profiled where they live: compared with the
    monitor's reference (stored once), and the monitor's status and alerts moved on."""
    monitor = Monitor.objects.select_related("team", "created_by").get(pk=report.monitor_id)
    try:
        if "reference" in profiles and not monitor.reference_profile:
            _reference_store(monitor, profiles["reference"])
        reference = _reference_profile(monitor)
        current = (
            _profile_or_none(profiles.get("current"))
            if "current" in profiles
            else side_profile(side_of(report.current))
        )
        if current is None:
            _report_end(report, ReportStatus.NO_DATA, "No captured traffic in this window.")
        else:
            report_store(report=report, reference=reference, current=current)
    except (SideError, OSError, ValueError) as error:
        _report_end(report, ReportStatus.FAILED, str(error))
    _monitor_window_end(report, monitor=monitor)
    return report


def _reference_store(monitor: Monitor, profile: DatasetProfile) -> None:
    if not profile.rows:
        raise SideError(f"No captured rows in the reference window ({monitor.reference_label}).")
    data = profile.to_bytes()
    Monitor.objects.filter(pk=monitor.pk).update(reference_profile=data, reference_rows=profile.rows)
    monitor.reference_profile, monitor.reference_rows = data, profile.rows


def monitor_evaluate(*, monitor_id, now=None, start=None, end=None) -> DriftReport | None:
    """The monitor's window profiled and compared with its reference: [start, end) when the
    schedule gave one (cron, capture volume), else the last ``window_hours`` up to ``now``; the
    report stored and linked to the monitor, the monitor's status set."""
    monitor = Monitor.objects.select_related("team", "created_by").get(pk=monitor_id)
    end = (end or now or timezone.now()).replace(microsecond=0)
    start = max(start, end - MAX_WINDOW) if start else end - timedelta(hours=monitor.window_hours)
    if monitor.source == Source.ENDPOINT:
        current_side = Side(kind="window", endpoint=monitor.endpoint_name, start=start, end=end)
    else:
        current_side = Side(kind="dataset", dataset=monitor.dataset)
    report = DriftReport.objects.create(
        team=monitor.team,
        monitor=monitor,
        reference=monitor.reference
        if "dataset" in monitor.reference
        else {"endpoint": monitor.endpoint_name, **monitor.reference},
        current=current_side.as_json(),
        columns_options=monitor.columns,
        reference_label=monitor.reference_label,
        current_label=current_side.label[:500],
        window_start=start,
        window_end=end,
    )
    if current_side.kind == "window" and cloud_windows.profiler_for(current_side.endpoint) is not None:
        return _monitor_window_run(monitor, report)
    try:
        reference = _reference_profile(monitor)
        current = side_profile(current_side)
        if current is None:
            _report_end(report, ReportStatus.NO_DATA, "No captured traffic in this window.")
        else:
            report_store(report=report, reference=reference, current=current)
    except (SideError, OSError, ValueError) as error:
        _report_end(report, ReportStatus.FAILED, str(error))
    except Exception as error:  # a bug: logged with its traceback, the monitor says so readably
        logger.exception("monitor %s: evaluating the window to %s failed", monitor.pk, end)
        _report_end(report, ReportStatus.FAILED, f"Atrium could not evaluate this window ({type(error).__name__}).")
    _monitor_window_end(report, monitor=monitor)
    return report


def _monitor_window_run(monitor: Monitor, report: DriftReport) -> DriftReport:
    """A window that lives in a cloud: a drift run (as the monitor's creator, in its team)
    whose step profiles it there; the report is finished, and the monitor moved on, when
    the run's step reads the profile back."""
    try:
        with transaction.atomic():
            run = plan_run_create(
                user=monitor.created_by,
                kind=RunKind.DRIFT,
                steps=[
                    {
                        "id": "drift",
                        "name": "Drift window",
                        "action": DRIFT_ACTION,
                        "input": {"report_id": str(report.pk)},
                    }
                ],
                params={"report_id": str(report.pk)},
                team=monitor.team,
                name=f"Drift: {report.current_label}"[:200],
            )
            DriftReport.objects.filter(pk=report.pk).update(run=run)
            report.run = run
    except (DomainError, PermissionDenied) as error:  # the monitor's creator may no longer start runs in the team
        _report_end(report, ReportStatus.FAILED, f"The window's drift run could not start: {error}")
        _monitor_window_end(report, monitor=monitor)
    return report


def _monitor_window_end(report: DriftReport, *, monitor: Monitor | None = None) -> None:
    """The monitor's status from its window's report, and its alert rules evaluated."""
    monitor = monitor or Monitor.objects.select_related("team", "created_by").get(pk=report.monitor_id)
    end = report.window_end
    status = {
        ReportStatus.SUCCEEDED: MonitorStatus.DRIFT if report.dataset_drift else MonitorStatus.OK,
        ReportStatus.NO_DATA: MonitorStatus.NO_DATA,
    }.get(report.status, MonitorStatus.ERROR)
    Monitor.objects.filter(pk=monitor.pk).update(
        status=status,
        status_message=report.message[:2000],
        last_window_end=end,
        last_drift_share=report.drift_share,
    )
    alerts_evaluate(monitor=monitor, report=report)
