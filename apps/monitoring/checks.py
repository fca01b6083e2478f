"""The checks of what people give a monitor (its settings, its columns' options, its retraining),
each problem as a message under the field's name; the services raise them together."""

from __future__ import annotations

import math

from apps.accounts.models import User
from apps.catalog import selectors as catalog_selectors
from apps.core.errors import InvalidInput

from .drift import METHODS
from .models import AlertRule, RetrainData, Schedule
from .retraining import RETRAIN_KINDS

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
    "webhook_url",  # the webhook's three: webhooks.webhook_settings_check
    "webhook_secret",
    "rotate_webhook_secret",
    "alert_missing_jump",
    "retrain_template",
    "retrain_on",
    "retrain_environment",
    "cron",
    "volume_rows",
    "label_column",
    "retrain_data",
)
MAX_ALERT_WINDOWS = 100


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


def settings_check(data: dict, errors: dict) -> dict:
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
    for name in ("cron", "volume_rows"):  # checked with the schedule (schedules.schedule_check)
        if name in data:
            clean[name] = data[name].strip() if isinstance(data[name], str) else data[name]
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
    if "retrain_data" in data:
        if data["retrain_data"] not in RetrainData.values:
            errors["retrain_data"] = [f"What the retraining trains on: one of {', '.join(RetrainData.values)}."]
        clean["retrain_data"] = data["retrain_data"]
    for name, longest in (("retrain_template", 80), ("retrain_environment", 50), ("label_column", 200)):
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


def retrain_check(*, user: User, clean: dict, reference: dict, errors: dict) -> None:
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
