"""Every write of monitoring: an ad-hoc drift report started (a run of kind "drift"),
monitors created, changed and deleted (audited). The computing is in ``compute``,
called by the run's step and by the beat, never on a request."""

from __future__ import annotations

import math
import uuid
from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.models import Team, User
from apps.accounts.selectors import user_teams
from apps.audit.services import audit_record
from apps.catalog import selectors as catalog_selectors
from apps.core.errors import Conflict, InvalidInput
from apps.notifications.webhooks import secret_new
from apps.runs.models import RunKind
from apps.runs.services import plan_run_create

from . import webhooks
from .compute import DRIFT_ACTION
from .drift import METHODS
from .models import AlertRule, DriftReport, Monitor, MonitorStatus, Schedule, Source
from .retraining import RETRAIN_KINDS
from .sources import SideError, dataset_check, endpoint_visible, side_parse, training_reference, window_check

VIEW, CHANGE = "monitoring.view_monitor", "monitoring.change_monitor"
MAX_COLUMNS = 1_000
MAX_WINDOW_HOURS = 24 * 31
MONITOR_FIELDS = (
    "name",
    "window_hours",
    "schedule",
    "columns",
    "enabled",
    "alert_on_dataset_drift",
    "alert_feature_windows",
    "webhook_url",
    "rotate_webhook_secret",
    "alert_missing_jump",
    "retrain_template",
    "retrain_on",
    "retrain_environment",
)
MAX_ALERT_WINDOWS = 100


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


def columns_check(columns) -> dict:
    """Per-column options ``{"name": {"method": "psi", "threshold": 0.2}}``, checked."""
    if columns in (None, ""):
        return {}
    if not isinstance(columns, dict):
        raise InvalidInput.one("columns", "An object: column name -> {method, threshold}.")
    if len(columns) > MAX_COLUMNS:
        raise InvalidInput.one("columns", f"At most {MAX_COLUMNS} columns.")
    errors, clean = {}, {}
    for name, options in columns.items():
        where = f"columns.{name}"[:320]
        if not name or len(name) > 300:
            errors[where] = ["A column name of 1 to 300 characters."]
            continue
        if not isinstance(options, dict) or not options or set(options) - {"method", "threshold"}:
            errors[where] = ["An object with a method, a threshold, or both."]
            continue
        method, threshold = options.get("method"), options.get("threshold")
        if method is not None and method not in METHODS:
            errors[where] = [f"Unknown method {str(method)[:40]!r}: one of {', '.join(METHODS)}."]
            continue
        if threshold is not None:
            if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not math.isfinite(threshold):
                errors[where] = ["The threshold is a number."]
                continue
            if threshold <= 0:
                errors[where] = ["The threshold is above 0."]
                continue
            if method is not None and METHODS[method].rule.startswith("p") and threshold >= 1:
                errors[where] = [f"{method} compares a p-value: its threshold is between 0 and 1."]
                continue
        clean[name] = {key: value for key, value in options.items() if value is not None}
    if errors:
        raise InvalidInput(errors)
    return clean


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


def _settings_check(data: dict, errors: dict) -> dict:
    clean = {}
    if "name" in data:
        name = data["name"].strip() if isinstance(data["name"], str) else ""
        if not name or len(name) > 100:
            errors["name"] = ["Required, at most 100 characters."]
        clean["name"] = name
    if "window_hours" in data:
        hours = data["window_hours"]
        if isinstance(hours, bool) or not isinstance(hours, int) or not 1 <= hours <= MAX_WINDOW_HOURS:
            errors["window_hours"] = [f"A whole number of hours from 1 to {MAX_WINDOW_HOURS}."]
        clean["window_hours"] = hours
    if "schedule" in data:
        if data["schedule"] not in Schedule.values:
            errors["schedule"] = [f"One of {', '.join(Schedule.values)}."]
        clean["schedule"] = data["schedule"]
    if "columns" in data:
        try:
            clean["columns"] = columns_check(data["columns"])
        except InvalidInput as error:
            errors.update(error.errors)
    for flag in ("enabled", "alert_on_dataset_drift"):
        if flag in data:
            if not isinstance(data[flag], bool):
                errors[flag] = ["true or false."]
            clean[flag] = data[flag]
    if "webhook_url" in data:
        url = data["webhook_url"].strip() if isinstance(data["webhook_url"], str) else None
        try:
            if url is None or len(url) > 500:
                raise ValidationError("too long")
            if url:
                URLValidator(schemes=["http", "https"])(url)
        except ValidationError:
            errors["webhook_url"] = ["An http(s) URL of at most 500 characters, or empty for none."]
        clean["webhook_url"] = url or ""
    if "alert_feature_windows" in data:
        windows = data["alert_feature_windows"]
        if isinstance(windows, bool) or not isinstance(windows, int) or not 0 <= windows <= MAX_ALERT_WINDOWS:
            errors["alert_feature_windows"] = [f"A whole number of windows from 0 (off) to {MAX_ALERT_WINDOWS}."]
        clean["alert_feature_windows"] = windows
    if "alert_missing_jump" in data:
        points = data["alert_missing_jump"]
        if isinstance(points, bool) or not isinstance(points, int) or not 0 <= points <= 100:
            errors["alert_missing_jump"] = ["Percentage points from 0 (off) to 100."]
        clean["alert_missing_jump"] = points
    for name, longest in (("retrain_template", 80), ("retrain_environment", 50)):
        if name in data:
            value = data[name].strip() if isinstance(data[name], str) else None
            if value is None or len(value) > longest:
                errors[name] = [f"At most {longest} characters, or empty."]
            clean[name] = value or ""
    if "retrain_on" in data:
        if data["retrain_on"] not in AlertRule.values:
            rules = ", ".join(AlertRule.values)
            errors["retrain_on"] = [f"The rule whose alert starts the retraining: one of {rules}."]
        clean["retrain_on"] = data["retrain_on"]
    return clean


def _retrain_check(*, user: User, clean: dict, reference: dict, errors: dict) -> None:
    """A retraining template is a catalogue train template the person may launch, for a monitor
    whose reference is a model version's training data (the model retrained)."""
    slug = clean.get("retrain_template")
    if not slug:
        return
    template = catalog_selectors.template_visible(user=user).filter(slug=slug, archived=False).first()
    if template is None:
        errors["retrain_template"] = [f"No catalogue template {slug!r} you may launch."]
    elif template.kind not in RETRAIN_KINDS:
        errors["retrain_template"] = [f"{template.name} is a {template.kind} template: retraining needs a train one."]
    if "model_version" not in reference:
        errors["retrain_template"] = ["Retraining needs the model: make the reference a model version's training data."]
    if not clean.get("retrain_environment"):
        errors["retrain_environment"] = ["The environment the retrained version is asked into (e.g. staging)."]


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
    alert_missing_jump: int = 0,
    retrain_template: str = "",
    retrain_on: str = AlertRule.DATASET_DRIFT,
    retrain_environment: str = "staging",
    team: Team | None = None,
) -> Monitor:
    """A monitor on an endpoint's captured traffic (``endpoint``) or on a dataset. Its first
    window is due at once; the reference is profiled by the first evaluation and kept."""
    _require_configure(user)
    errors: dict = {}
    fields = _settings_check(
        {
            "name": name,
            "window_hours": window_hours,
            "schedule": schedule,
            "columns": columns,
            "alert_on_dataset_drift": alert_on_dataset_drift,
            "alert_feature_windows": alert_feature_windows,
            "webhook_url": webhook_url,
            "alert_missing_jump": alert_missing_jump,
            "retrain_template": retrain_template,
            "retrain_on": retrain_on,
            "retrain_environment": retrain_environment,
        },
        errors,
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
        _retrain_check(user=user, clean=fields, reference=reference, errors=errors)
    try:
        team = found.team if found else _team(user, team)
    except InvalidInput as error:
        errors.update(error.errors)
    if errors:
        raise InvalidInput(errors)
    _require_configure(user, team.pk)
    clear, stored = secret_new() if fields["webhook_url"] else ("", "")
    try:
        with transaction.atomic():
            monitor = Monitor.objects.create(
                webhook_secret=stored,
                team=team,
                created_by=user,
                source=Source.ENDPOINT if found else Source.DATASET,
                endpoint_id=found.pk if found else None,
                endpoint_name=found.name if found else "",
                dataset=dataset if not found else "",
                reference=reference,
                reference_label=reference_label[:500],
                next_due_at=timezone.now(),
                **fields,
            )
            audit_record(actor=user, action="monitor.create", target=monitor, team=team, data=_audit_data(monitor))
    except IntegrityError:
        raise InvalidInput.one("name", f"Your team already has a monitor called {fields['name']!r}.") from None
    monitor.webhook_secret_clear = clear  # shown once, in the answer to this request
    return monitor


def monitor_update(*, user: User, monitor: Monitor, data: dict) -> Monitor:
    """Change a monitor's name, window, schedule, columns or whether it runs (its
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
    clean = _settings_check(data, errors)
    if clean.get("retrain_template") or ("retrain_environment" in clean and monitor.retrain_template):
        merged = {
            "retrain_template": monitor.retrain_template,
            "retrain_environment": monitor.retrain_environment,
            **clean,
        }
        _retrain_check(user=user, clean=merged, reference=monitor.reference, errors=errors)
    rotate = data.get("rotate_webhook_secret", False)
    if not isinstance(rotate, bool):
        errors["rotate_webhook_secret"] = ["true or false."]
    if errors:
        raise InvalidInput(errors)
    clear = ""
    if clean.get("webhook_url") and (rotate or not monitor.webhook_secret):
        clear, monitor.webhook_secret = secret_new()
    elif "webhook_url" in clean and not clean["webhook_url"]:
        monitor.webhook_secret = ""
    elif rotate and monitor.webhook_url:
        clear, monitor.webhook_secret = secret_new()
    monitor.webhook_secret_clear = clear
    try:
        with transaction.atomic():
            for key, value in clean.items():
                setattr(monitor, key, value)
            if clean.get("enabled") and monitor.next_due_at is None:
                monitor.next_due_at = timezone.now()
            monitor.save()
            data = {**clean, **({"webhook_secret": "replaced"} if clear else {})}
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
    if not monitor.webhook_url:
        raise Conflict("The monitor has no webhook URL.")
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
        "columns": monitor.columns,
        "alert_on_dataset_drift": monitor.alert_on_dataset_drift,
        "alert_feature_windows": monitor.alert_feature_windows,
        "webhook_url": monitor.webhook_url,
        "alert_missing_jump": monitor.alert_missing_jump,
        "retrain_template": monitor.retrain_template,
        "retrain_on": monitor.retrain_on,
        "retrain_environment": monitor.retrain_environment,
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
