"""Closing the loop: an alert starts a retraining run; the version it registers becomes the
challenger and is asked into an environment, with the drift report as evidence.

1. ``retraining_start`` (from ``alerts``, when an alert of the monitor's ``retrain_on`` rule
   opens): the window's captured rows are written under the data root (bounded) and the
   monitor's catalogue train template is launched through the catalogue's services, as the
   monitor's creator would launch it, for the monitor's team. The model is the one whose
   training data is the monitor's reference. When the window's rows carry a label (the
   monitor's ``label_column``, else the model's own; clients send it with their requests, or a
   dataset monitor's file has it), its labelled rows are written as one Parquet file, after
   the model's training data unless ``retrain_data`` says the window alone, and the template
   trains on it. A template that cannot take a file and a label column, or a window without
   labels (captured requests carry features, not outcomes), trains on the model's training
   dataset: the retraining says why.
2. ``following.retraining_run_ended`` (a run-engine effect, after the run ended and committed) hands a
   succeeded run to a task: ``retraining_promote`` sets the alias "challenger" on the version
   the run registered (registry services) and files the promotion request (approvals
   services) for ``retrain_environment``. The evidence pack's drift check (``evidence``)
   reads this row to find the report.

Each automatic action is audited on the monitor, as its creator (the person the portal acts
for); the alert's history on the monitor's page lists them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction

from apps.approvals import services as approval_services
from apps.approvals.evidence.scoring import EvidenceUnavailable, training_request
from apps.audit.services import audit_record
from apps.backends.jobs.training import load_dataset
from apps.catalog import selectors as catalog_selectors
from apps.catalog import services as catalog_services
from apps.catalog.spec import declared_properties
from apps.core.errors import DomainError, InvalidInput
from apps.registry import selectors as registry_selectors
from apps.registry import services as registry_services

from .models import DriftAlert, DriftReport, Monitor, RetrainData, Retraining, RetrainingStatus, Source
from .sources import RETRAIN_FOLDER, RETRAIN_ROWS, Side, SideError, data_path, model_version_visible, window_write

logger = logging.getLogger(__name__)

CHALLENGER = "challenger"
RETRAIN_KINDS = ("train", "tune")


def _errors_text(error: InvalidInput) -> str:
    return "; ".join(f"{key}: {' '.join(map(str, value))}" for key, value in error.errors.items())[:1000]


def retraining_audit(retraining: Retraining, action: str, **data) -> None:
    monitor = retraining.monitor
    audit_record(
        actor=monitor.created_by,
        action=f"monitor.{action}",
        target=monitor,
        team=monitor.team,
        data={"retraining": str(retraining.pk), "alert": str(retraining.alert_id), **data},
    )


def _window_dataset(monitor: Monitor, report: DriftReport, name: str) -> tuple[str, int | None]:
    """The current window's data as a dataset under the data root."""
    if monitor.source == Source.DATASET:
        return monitor.dataset, report.rows_current
    side = Side(kind="window", endpoint=monitor.endpoint_name, start=report.window_start, end=report.window_end)
    return window_write(side, name=name)


def _window_frame(path: str, *, max_rows: int = RETRAIN_ROWS):
    """The window's file (CSV or Parquet under the data root) as a DataFrame, its first
    ``max_rows`` rows at most (a dataset monitor's file may be large)."""
    import pyarrow.parquet as pq

    resolved = data_path(path)
    if path.lower().endswith(".parquet"):
        parts, rows = [], 0
        for batch in pq.ParquetFile(resolved).iter_batches(batch_size=65_536):
            parts.append(batch.slice(0, max_rows - rows))
            rows += parts[-1].num_rows
            if rows >= max_rows:
                break
        import pyarrow as pa

        return pa.Table.from_batches(parts).to_pandas() if parts else None
    import pandas as pd

    return pd.read_csv(resolved, nrows=max_rows)


@dataclass
class Labelled:
    """The dataset a retraining trains on when the window carries labels."""

    path: str  # under the data root
    window_rows: int  # the window's rows with a label
    training_rows: int  # the model's training rows added to them (0: the window alone)


def _labelled_write(*, monitor: Monitor, training, window: str, label: str, name: str) -> Labelled | None:
    """The window's rows that carry ``label`` (optionally after the model's own training data,
    with the window reduced to the model's columns) written as one Parquet file; None when no
    row of the window has a label."""
    import pandas as pd

    frame = _window_frame(window)
    if frame is None or label not in frame.columns:
        return None
    frame = frame[frame[label].notna()]
    if frame.empty:
        return None
    training_rows = 0
    if monitor.retrain_data == RetrainData.WINDOW_AND_TRAINING:
        features, target = load_dataset(training, data_root=Path(settings.DATA_ROOT))
        base = features.assign(**{label: target.to_numpy()})
        training_rows = len(base)
        # the model's columns, in its order: a column clients did not send is missing (NaN), not a new feature
        frame = pd.concat([base, frame.reindex(columns=base.columns)], ignore_index=True)
    relative = f"{RETRAIN_FOLDER}/{name}-labelled.parquet"
    target_path = data_path(relative)
    target_path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(target_path, index=False)
    return Labelled(path=relative, window_rows=len(frame) - training_rows, training_rows=training_rows)


def _launch_params(*, user, template, version, window: str, monitor: Monitor, name: str, team):
    """The parameters to launch with, the dataset they name, why it is not the window (empty
    when it is), and the labelled rows. The window's labelled rows first (with the model's
    training data, or alone), else the model's training dataset."""
    training = training_request(version)
    declared = declared_properties(template.current_version.parameters)
    base = {"model_name": version.model.name}
    if training.algorithm and "algorithm" in declared:
        base["algorithm"] = training.algorithm
    label = monitor.label_column or training.target_column
    note, labelled = "", None
    if not window:
        note = "The window's rows could not be written (no captured rows)"
    elif not label:
        note = (
            f"The window's rows carry no labels ({training.dataset} is a named dataset and the monitor names "
            "no label column its clients send)"
        )
    elif "target_column" not in declared:
        note = f"The template {template.slug} does not take a label column for a file dataset"
    else:
        labelled = _labelled_write(monitor=monitor, training=training, window=window, label=label, name=name)
        if labelled is None:
            note = (
                f"The window's rows carry no {label!r} values "
                "(captured requests have no labels unless clients send them)"
            )
    if labelled is not None:
        params = {**base, "dataset": labelled.path, "target_column": label}
        if "task" in declared:
            params["task"] = training.task
        try:
            model = version.model
            catalog_services.template_dry_run(
                user=user,
                template=template,
                params=params,
                backend=model.backend,
                connection=model.connection,
                team=team,
            )
        except InvalidInput as error:
            note = f"The template {template.slug} does not take the window's file ({_errors_text(error)})"
        else:
            return params, labelled.path, "", labelled
    fallback = f"{note}: trained on {training.dataset}, the model's training dataset."
    return {**base, "dataset": training.dataset}, training.dataset, fallback, None


def retraining_start(*, monitor: Monitor, alert: DriftAlert, report: DriftReport) -> Retraining:
    """Start the monitor's retraining template on the window of ``report``, for ``alert``; while
    one of the monitor's retrainings still runs, that one (one retraining at a time)."""
    running = Retraining.objects.filter(monitor=monitor, status=RetrainingStatus.RUNNING).first()
    if running is not None:
        return running
    retraining = Retraining.objects.create(
        monitor=monitor, alert=alert, report=report, template_slug=monitor.retrain_template
    )
    user = monitor.created_by
    try:
        if "model_version" not in monitor.reference:
            raise SideError("Retraining needs the model: the monitor's reference is a model version's training data.")
        version = model_version_visible(user=user, version_id=monitor.reference["model_version"])
        template = catalog_selectors.template_visible(user=user).filter(slug=monitor.retrain_template).first()
        if template is None or template.archived:
            raise SideError(f"No catalogue template {monitor.retrain_template!r} that {user} may launch.")
        if template.kind not in RETRAIN_KINDS:
            raise SideError(f"{template.name} is a {template.kind} template: retraining needs a train template.")
        window, rows = _window_dataset(monitor, report, name=f"{monitor.pk}/{report.pk}")
        params, dataset, note, labelled = _launch_params(
            user=user,
            template=template,
            version=version,
            window=window,
            monitor=monitor,
            name=f"{monitor.pk}/{report.pk}",
            team=monitor.team,
        )
        model = version.model
        run = catalog_services.template_launch(
            user=user,
            template=template,
            params=params,
            backend=model.backend,
            connection=model.connection,
            team=monitor.team,
            name=f"Retrain {model.name} on drift ({monitor.name})",
        )
    except (SideError, EvidenceUnavailable, DomainError, PermissionDenied, OSError, ValueError) as error:
        text = _errors_text(error) if isinstance(error, InvalidInput) else str(error)
        Retraining.objects.filter(pk=retraining.pk).update(status=RetrainingStatus.NOT_STARTED, message=text[:2000])
        retraining.status, retraining.message = RetrainingStatus.NOT_STARTED, text
        retraining_audit(retraining, "retraining_not_started", template=monitor.retrain_template, reason=text[:500])
        return retraining
    retraining.run, retraining.window_dataset, retraining.window_rows = run, window, rows
    retraining.trained_on, retraining.trained_on_note = dataset, note[:500]
    if labelled is not None:
        retraining.labelled_rows, retraining.training_rows = labelled.window_rows, labelled.training_rows
    retraining.message = f"Retraining run {run} started on {dataset}."
    retraining.save()
    retraining_audit(
        retraining, "retraining_started", run=str(run.pk), template=template.slug, dataset=dataset, note=note
    )
    return retraining


# --- after the run -------------------------------------------------------------------------------


def retraining_promote(*, retraining_id) -> Retraining:
    """The version the retraining run registered becomes the challenger, and is asked into the
    monitor's ``retrain_environment`` with the drift report as evidence. Idempotent."""
    retraining = Retraining.objects.select_related(
        "monitor__team", "monitor__created_by", "run", "alert", "report"
    ).get(pk=retraining_id)
    if retraining.status != RetrainingStatus.RUNNING:
        return retraining
    monitor, user = retraining.monitor, retraining.monitor.created_by
    version = registry_selectors.version_of_run(run=retraining.run) if retraining.run else None
    if version is None:
        message = f"Retraining run {retraining.run} registered no version."
        return _ended(retraining, RetrainingStatus.NO_VERSION, message)
    try:
        registry_services.version_set_alias(user=user, version=version, alias=CHALLENGER)
    except (DomainError, PermissionDenied) as error:
        text = _errors_text(error) if isinstance(error, InvalidInput) else str(error)
        return _ended(retraining, RetrainingStatus.ERROR, f"{version} could not become the challenger: {text}", version)
    retraining_audit(retraining, "challenger_set", version=str(version.pk), label=str(version))
    alert = retraining.alert.message if retraining.alert else "drift"
    reason = (
        f"Drift on monitor {monitor.name}: {alert} Retrained by run {retraining.run} on {retraining.trained_on}."
        + (f" {retraining.trained_on_note}" if retraining.trained_on_note else "")
    )
    try:
        with transaction.atomic():  # the request and its link here commit together: the evidence run reads both
            request = approval_services.promotion_request(
                user=user, version=version, environment=monitor.retrain_environment, reason=reason[:2000]
            )
            Retraining.objects.filter(pk=retraining.pk).update(
                status=RetrainingStatus.REQUESTED,
                model_version=version,
                promotion_request=request,
                message=f"{version} is the challenger; promotion request filed for {monitor.retrain_environment}.",
            )
            retraining_audit(retraining, "promotion_requested", request=str(request.pk), version=str(version.pk))
    except (DomainError, PermissionDenied) as error:
        text = _errors_text(error) if isinstance(error, InvalidInput) else str(error)
        return _ended(retraining, RetrainingStatus.ERROR, f"No promotion request for {version}: {text}", version)
    retraining.refresh_from_db()
    return retraining


def _ended(retraining: Retraining, status: str, message: str, version=None) -> Retraining:
    Retraining.objects.filter(pk=retraining.pk).update(status=status, message=message[:2000], model_version=version)
    retraining.status, retraining.message, retraining.model_version = status, message, version
    retraining_audit(retraining, "retraining_stopped", status=status, reason=message[:500])
    return retraining
