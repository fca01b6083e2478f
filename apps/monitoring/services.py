"""Every write of monitoring: an ad-hoc drift report started (a run of kind "drift"),
monitors created, changed and deleted (audited). The computing is in ``compute``,
called by the run's step and by the beat, never on a request."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.models import Team, User
from apps.accounts.selectors import user_teams
from apps.audit.services import audit_record
from apps.core.errors import Conflict, InvalidInput
from apps.notifications.webhooks import webhook_audit, webhook_test_check
from apps.runs.models import RunKind
from apps.runs.services import plan_run_create

from . import checks, schedules, webhooks
from .checks import MONITOR_FIELDS, columns_check
from .compute import DRIFT_ACTION
from .models import AlertRule, DriftReport, Monitor, MonitorStatus, RetrainData, Schedule, Source
from .sources import SideError, dataset_check, endpoint_visible, side_parse, training_reference, window_check

VIEW, CHANGE = "monitoring.view_monitor", "monitoring.change_monitor"


def require_view(*, user: User) -> None:
    if not user.has_perm(VIEW):
        raise PermissionDenied("Your role cannot read monitoring.")


def can_configure(*, user: User, team_id=None) -> bool:
    """Data scientists of the owning team (and admins) configure monitors; the rest read."""
    if not user.has_perm(CHANGE):
        return False
    return team_id is None or user.is_portal_admin or user.teams.filter(pk=team_id).exists()


def require_start(*, user: User) -> None:
    if not user.has_perm("runs.add_run"):
        raise PermissionDenied("Your role cannot start drift reports.")


def require_configure(*, user: User, team_id=None) -> None:
    _require_configure(user, team_id)


def _require_configure(user: User, team_id=None) -> None:
    if not can_configure(user=user, team_id=team_id):
        raise PermissionDenied("Only the data scientists of the monitor's team configure it.")


def _team(user: User, team: Team | None) -> Team:
    teams = user_teams(user=user)
    if team is None:
        team = teams.first()
        if team is None:
            raise InvalidInput.one("team", "You are not in any team.")
    elif not user.is_portal_admin and not teams.filter(pk=team.pk).exists():
        raise InvalidInput.one("team", "You are not a member of that team.")
    return team


# --- ad-hoc reports ------------------------------------------------------------------------------


def drift_report_start(*, user: User, reference, current, columns=None, team: Team | None = None) -> DriftReport:
    """Check both sides and the columns' options, then a report and the run that computes it,
    together or not at all."""
    require_start(user=user)
    errors, sides = {}, {}
    for key, value in (("reference", reference), ("current", current)):
        try:
            sides[key] = side_parse(value, user=user)
        except SideError as error:
            errors[key] = [str(error)]
    try:
        options = columns_check(columns)
    except InvalidInput as error:
        errors.update(error.errors)
    if errors:
        raise InvalidInput(errors)
    report_id = uuid.uuid4()
    with transaction.atomic():
        # A plan the monitoring app makes (never POST /runs/ nor a template: its step
        # reads a report by id, so only the service that made the report may start it).
        run = plan_run_create(
            user=user,
            kind=RunKind.DRIFT,
            steps=[
                {"id": "drift", "name": "Drift report", "action": DRIFT_ACTION, "input": {"report_id": str(report_id)}}
            ],
            params={"report_id": str(report_id)},
            team=team,
            name=f"Drift: {sides['current'].label} vs {sides['reference'].label}"[:200],
        )
        report = DriftReport.objects.create(
            id=report_id,
            team=run.team,
            created_by=user,
            run=run,
            reference=sides["reference"].as_json(),
            current=sides["current"].as_json(),
            reference_label=sides["reference"].label[:500],
            current_label=sides["current"].label[:500],
            columns_options=options,
        )
    return report


# --- monitors -------------------------------------------------------------------------------------


def _reference_check(value, *, user, endpoint_name: str) -> tuple[dict, str]:
    """A monitor's reference: ``{"dataset": path}`` or ``{"start", "end"}`` of its endpoint's traffic."""
    if isinstance(value, str):
        value = {"dataset": value}
    if not isinstance(value, dict):
        raise SideError('{"dataset": <path under the data root>} or {"start": <time>, "end": <time>}.')
    if set(value) == {"model_version"}:
        return training_reference(user=user, version_id=value["model_version"])
    if set(value) == {"dataset"}:
        path = dataset_check(value["dataset"])
        return {"dataset": path}, path
    if set(value) == {"start", "end"} and endpoint_name:
        side = window_check(endpoint=endpoint_name, start=value["start"], end=value["end"])
        return {"start": side.start.isoformat(), "end": side.end.isoformat()}, side.label
    raise SideError(
        'A model version\'s training data {"model_version": <id>}, a dataset {"dataset": <path>}, '
        'or for an endpoint a window of its traffic {"start": <time>, "end": <time>}.'
    )


def monitor_create(
    *,
    user: User,
    name: str,
    reference,
    endpoint: str = "",
    dataset: str = "",
    window_hours: int = 24,
    schedule: str = Schedule.DAILY,
    columns=None,
    alert_on_dataset_drift: bool = True,
    alert_feature_windows: int = 3,
    webhook_url: str = "",
    webhook_secret: str | None = None,
    alert_missing_jump: int = 0,
    retrain_template: str = "",
    retrain_on: str = AlertRule.DATASET_DRIFT,
    retrain_environment: str = "staging",
    label_column: str = "",
    retrain_data: str = RetrainData.WINDOW_AND_TRAINING,
    cron: str = "",
    volume_rows: int | None = None,
    team: Team | None = None,
) -> Monitor:
    """A monitor on an endpoint's captured traffic (``endpoint``) or on a dataset. Its first
    window is due at once; the reference is profiled by the first evaluation and kept. A webhook
    URL is signed with ``webhook_secret`` (None: one is made, shown once on the monitor's
    ``webhook_secret_clear``)."""
    _require_configure(user)
    errors: dict = {}
    fields = checks.settings_check(
        {
            "name": name,
            "window_hours": window_hours,
            "schedule": schedule,
            "columns": columns,
            "alert_on_dataset_drift": alert_on_dataset_drift,
            "alert_feature_windows": alert_feature_windows,
            "alert_missing_jump": alert_missing_jump,
            "retrain_template": retrain_template,
            "retrain_on": retrain_on,
            "retrain_environment": retrain_environment,
            "label_column": label_column,
            "retrain_data": retrain_data,
            "cron": cron,
            "volume_rows": volume_rows,
        },
        errors,
    )
    webhook, clear = webhooks.webhook_settings_check(
        {"webhook_url": webhook_url, "webhook_secret": webhook_secret}, errors=errors
    )
    found = None
    if bool(endpoint) == bool(dataset):
        errors["source"] = ["Watch either an endpoint's traffic or a dataset."]
    elif endpoint:
        try:
            found = endpoint_visible(user=user, name=endpoint)
        except SideError as error:
            errors["endpoint"] = [str(error)]
    else:
        try:
            dataset = dataset_check(dataset)
        except SideError as error:
            errors["dataset"] = [str(error)]
    try:
        reference, reference_label = _reference_check(reference, user=user, endpoint_name=found.name if found else "")
    except SideError as error:
        errors["reference"] = [str(error)]
    else:
        checks.retrain_check(user=user, clean=fields, reference=reference, errors=errors)
    source = Source.ENDPOINT if endpoint else Source.DATASET
    fields.update(schedules.schedule_check(fields, source=source, errors=errors))
    try:
        team = found.team if found else _team(user, team)
    except InvalidInput as error:
        errors.update(error.errors)
    if errors:
        raise InvalidInput(errors)
    _require_configure(user, team.pk)
    starts = schedules.schedule_start(schedule=fields["schedule"], cron=fields["cron"], now=timezone.now(), new=True)
    try:
        with transaction.atomic():
            monitor = Monitor.objects.create(
                **webhook,
                team=team,
                created_by=user,
                source=Source.ENDPOINT if found else Source.DATASET,
                endpoint_id=found.pk if found else None,
                endpoint_name=found.name if found else "",
                dataset=dataset if not found else "",
                reference=reference,
                reference_label=reference_label[:500],
                **starts,
                **fields,
            )
            data = {**_audit_data(monitor), **(webhook_audit(webhook) if monitor.webhook_url else {})}
            audit_record(actor=user, action="monitor.create", target=monitor, team=team, data=data)
    except IntegrityError:
        raise InvalidInput.one("name", f"Your team already has a monitor called {fields['name']!r}.") from None
    monitor.webhook_secret_clear = clear  # shown once, in the answer to this request
    return monitor


def monitor_update(*, user: User, monitor: Monitor, data: dict) -> Monitor:
    """Change a monitor's name, window, schedule, columns, webhook or whether it runs (its
    source and reference stay: a new reference is a new monitor, comparable over time)."""
    _require_configure(user, monitor.team_id)
    unknown = sorted(set(data) - set(MONITOR_FIELDS))
    errors: dict = {
        name: [
            "Cannot be changed (make a new monitor)."
            if name in {"reference", "endpoint", "dataset"}
            else "Unknown field."
        ]
        for name in unknown
    }
    clean = checks.settings_check(data, errors)
    if clean.get("retrain_template") or ("retrain_environment" in clean and monitor.retrain_template):
        merged = {
            "retrain_template": monitor.retrain_template,
            "retrain_environment": monitor.retrain_environment,
            **clean,
        }
        checks.retrain_check(user=user, clean=merged, reference=monitor.reference, errors=errors)
    starts = {}
    if {"schedule", "cron", "volume_rows"} & set(clean):
        schedule = clean.get("schedule", monitor.schedule)
        moved = schedule != monitor.schedule  # the other kind's setting is not carried over
        merged = {
            "schedule": schedule,
            "cron": clean.get("cron", "" if moved else monitor.cron),
            "volume_rows": clean.get("volume_rows", None if moved else monitor.volume_rows),
        }
        clean.update(schedules.schedule_check(merged, source=monitor.source, errors=errors))
        if not errors and (moved or clean["cron"] != monitor.cron):
            starts = schedules.schedule_start(schedule=schedule, cron=clean["cron"], now=timezone.now(), new=False)
    webhook, clear = webhooks.webhook_settings_check(data, monitor=monitor, errors=errors)
    if errors:
        raise InvalidInput(errors)
    monitor.webhook_secret_clear = clear
    try:
        with transaction.atomic():
            for key, value in {**clean, **starts, **webhook}.items():
                setattr(monitor, key, value)
            if clean.get("enabled") and monitor.next_due_at is None and monitor.schedule != Schedule.VOLUME:
                monitor.next_due_at = timezone.now()
            monitor.save()
            data = {**clean, **webhook_audit(webhook)}
            audit_record(actor=user, action="monitor.update", target=monitor, team=monitor.team, data=data)
    except IntegrityError:
        raise InvalidInput.one("name", f"Your team already has a monitor called {clean['name']!r}.") from None
    return monitor


@transaction.atomic
def monitor_delete(*, user: User, monitor: Monitor) -> None:
    _require_configure(user, monitor.team_id)
    audit_record(actor=user, action="monitor.delete", target=monitor, team=monitor.team, data=_audit_data(monitor))
    monitor.delete()


def monitor_evaluate_now(*, user: User, monitor: Monitor) -> None:
    """Make the monitor's next window due now (the beat evaluates it within a tick)."""
    _require_configure(user, monitor.team_id)
    if not monitor.enabled:
        raise Conflict("The monitor is paused: resume it first.")
    Monitor.objects.filter(pk=monitor.pk).update(next_due_at=timezone.now() - timedelta(seconds=1))


def monitor_webhook_test(*, user: User, monitor: Monitor) -> None:
    """Send a signed test delivery to the monitor's webhook (from a worker, after commit)."""
    _require_configure(user, monitor.team_id)
    webhook_test_check(monitor.webhook_url, owner="monitor")
    webhooks.webhook_enqueue(monitor=monitor, payload=webhooks.alert_payload(event="test", monitor=monitor))


def monitor_status_set(*, monitor: Monitor, status: str, message: str = "") -> None:
    Monitor.objects.filter(pk=monitor.pk).update(status=status, status_message=message[:2000])


def _audit_data(monitor: Monitor) -> dict:
    return {
        "source": monitor.source,
        "subject": monitor.subject,
        "reference": monitor.reference_label,
        "window_hours": monitor.window_hours,
        "schedule": monitor.schedule,
        "cron": monitor.cron,
        "volume_rows": monitor.volume_rows,
        "columns": monitor.columns,
        "alert_on_dataset_drift": monitor.alert_on_dataset_drift,
        "alert_feature_windows": monitor.alert_feature_windows,
        "webhook_url": monitor.webhook_url,
        "alert_missing_jump": monitor.alert_missing_jump,
        "retrain_template": monitor.retrain_template,
        "retrain_on": monitor.retrain_on,
        "retrain_environment": monitor.retrain_environment,
        "label_column": monitor.label_column,
        "retrain_data": monitor.retrain_data,
    }


__all__ = [
    "CHANGE",
    "VIEW",
    "MonitorStatus",
    "can_configure",
    "columns_check",
    "drift_report_start",
    "monitor_create",
    "monitor_delete",
    "monitor_update",
    "require_view",
]
