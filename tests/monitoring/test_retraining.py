# ruff: noqa: F401, F811 - the registry suite's fixtures (its real MLflow), imported to be used here
"""Closing the loop: a drift alert starts the monitor's retraining template (through the
catalogue's services, as the monitor's creator, for its team) on the window's captured rows,
or on the model's training dataset when the template cannot take them (and says why); the
version the run registers becomes the challenger in the session's real MLflow and is asked
into staging, with the drift check in its evidence pack. The run itself is not trained here:
its end is what the engine's effects see (the training path has its own tests)."""

import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
from django.conf import settings

from apps.approvals import policies
from apps.approvals.evidence import check_collect
from apps.approvals.models import CheckStatus, EvidenceCheck, PromotionRequest
from apps.audit.models import AuditEvent
from apps.monitoring import compute, retraining, services
from apps.monitoring.models import AlertRule, Retraining, RetrainingStatus
from apps.registry.models import ModelAlias, ModelVersion
from apps.registry.sync import Source, source_sync
from apps.runs import hooks
from apps.runs.models import Run, RunStatus
from tests.catalog.conftest import catalog_dir, make_template
from tests.registry.conftest import isolate_sources, local_mlflow, mlflow_logged, model_name

pytestmark = pytest.mark.django_db

SHIPPED = Path(__file__).resolve().parents[2] / "catalog"


@pytest.fixture
def admin(make_user):
    from apps.accounts.models import Role

    return make_user("admin-rt", role=Role.ADMIN)


@pytest.fixture
def loop(local_mlflow, mlflow_logged, model_name, isolate_sources, make_run, team, ds, admin, capture):
    """Model v1 in the real MLflow, trained on iris by a run of the team; team's staging; the
    shipped catalogue; an endpoint whose last hour of traffic has the petals' sizes moved."""
    from sklearn.datasets import load_iris

    from apps.catalog.services import catalog_load
    from apps.deployments.models import Endpoint, EndpointState

    client, _, _, register = mlflow_logged
    register(model_name, tags={"atrium.run_key": make_run("succeeded").idempotency_key})
    isolate_sources(Source(kind="local"))
    source_sync(source=Source(kind="local"))
    v1 = ModelVersion.objects.get(model__name=model_name, version="1")
    policies.environment_save(user=admin, team=team, name="staging", approvals_required=1)
    catalog_load(folder=SHIPPED)
    Endpoint.objects.create(
        team=team, backend="local", source="local", name="iris-ep", state=EndpointState.IN_SERVICE, created_by=ds
    )
    features = load_iris(as_frame=True).data
    moved = features.assign(
        **{"petal length (cm)": features["petal length (cm)"] + 3, "petal width (cm)": features["petal width (cm)"] + 2}
    )
    capture("iris-ep", moved, at=time.time() - 600)
    return {"client": client, "register": register, "v1": v1, "model_name": model_name}


def _monitor(ds, loop, endpoint="iris-ep", template="tabular-classifier", **fields):
    return services.monitor_create(
        user=ds,
        name="iris inputs",
        endpoint=endpoint,
        reference={"model_version": str(loop["v1"].pk)},
        window_hours=24,
        alert_feature_windows=0,
        retrain_template=template,
        retrain_environment="staging",
        **fields,
    )


def _run_succeeds(run: Run, *, model_name: str, version: str) -> None:
    """The run ended as the engine would end it: its train step registered ``version``."""
    step = run.steps.get()
    step.status, step.model_name, step.model_version = RunStatus.SUCCEEDED, model_name, version
    step.save()
    Run.objects.filter(pk=run.pk).update(status=RunStatus.SUCCEEDED, effects_pending=True)


def test_a_drift_alert_retrains_and_files_a_promotion_request_with_drift_evidence(
    loop, ds, ds_client, django_capture_on_commit_callbacks
):
    monitor = _monitor(ds, loop)
    report = compute.monitor_evaluate(monitor_id=monitor.pk)
    assert report.dataset_drift is True, report.message

    started = Retraining.objects.get(monitor=monitor)
    assert started.status == RetrainingStatus.RUNNING, started.message
    assert started.alert.rule == AlertRule.DATASET_DRIFT and started.report == report
    run = started.run
    assert run.created_by == ds and run.team == monitor.team and run.template_version is not None
    # the window's rows are kept under the data root, bounded; the shipped template takes named
    # datasets only and captured requests carry no labels: it trains on iris, and says so
    assert started.window_rows == 150
    kept = pd.read_parquet(Path(settings.DATA_ROOT) / started.window_dataset)
    assert len(kept) == 150 and kept["petal length (cm)"].min() >= 4
    assert run.params["dataset"] == "iris" and run.params["model_name"] == loop["model_name"]
    assert started.trained_on == "iris" and "no labels" in started.trained_on_note
    assert AuditEvent.objects.filter(action="monitor.retraining_started", actor=ds).exists()
    again = compute.monitor_evaluate(monitor_id=monitor.pk)  # still drifting: the alert holds, no second run
    assert again.dataset_drift and Retraining.objects.filter(monitor=monitor).count() == 1
    assert retraining.retraining_start(monitor=monitor, alert=started.alert, report=again) == started  # one at a time

    # the run registers v2 and ends: the registry's effect links it, ours hands it to a worker
    loop["register"](loop["model_name"], tags={"atrium.run_key": run.idempotency_key})
    _run_succeeds(run, model_name=loop["model_name"], version="2")
    with django_capture_on_commit_callbacks() as callbacks:
        hooks.effects_apply(run_id=run.pk)
    assert callbacks, "the promotion is handed to a worker after commit"
    v2 = ModelVersion.objects.get(model__name=loop["model_name"], version="2")
    assert v2.run_id == run.pk

    with django_capture_on_commit_callbacks():
        done = retraining.retraining_promote(retraining_id=started.pk)
    assert done.status == RetrainingStatus.REQUESTED, done.message
    assert ModelAlias.objects.get(model=v2.model, alias="challenger").version == v2
    assert loop["client"].get_model_version_by_alias(loop["model_name"], "challenger").version == "2"
    request = PromotionRequest.objects.get(pk=done.promotion_request_id)
    assert request.model_version == v2 and request.environment.name == "staging" and request.requested_by == ds
    assert "Drift on monitor iris inputs" in request.reason
    assert EvidenceCheck.objects.filter(request=request, key="drift").exists()
    actions = set(AuditEvent.objects.filter(actor=ds).values_list("action", flat=True))
    assert {"monitor.challenger_set", "monitor.promotion_requested"} <= actions
    assert retraining.retraining_promote(retraining_id=started.pk).promotion_request_id == request.pk  # once

    # the evidence: the report that fired, and v2's training data (iris again) still drifting
    result = check_collect(request_id=request.pk, key="drift", backend=None)
    assert result.status == CheckStatus.WARNING, result.summary
    assert "still drifts" in result.summary and "petal length (cm)" in result.figures["Still drifting"]
    assert result.figures["Drift report"]["url"] == report.get_absolute_url()

    # the alert's history on the monitor's page and in the API
    page = ds_client.get(monitor.get_absolute_url()).content.decode()
    assert f'Retraining run <a href="{run.get_absolute_url()}"' in page
    assert "Promotion request <a href=" in page and request.get_absolute_url() in page
    alerts = ds_client.get(f"/api/v1/monitors/{monitor.pk}/alerts/").json()["results"]
    assert [a["rule"] for a in alerts] == ["dataset_drift"]  # alert_feature_windows=0: no feature alerts
    assert alerts[0]["retrainings"][0]["promotion_request"] == str(request.pk)


def test_a_template_that_takes_files_trains_on_the_windows_rows(loop, ds, make_template, team, capture):
    """A team template whose dataset is any file, with the label column: the window's rows
    (here the clients send the label with each request) are its dataset."""
    from apps.deployments.models import Endpoint, EndpointState

    spec = textwrap.dedent(
        """
        apiVersion: atrium/v1
        slug: retrain-file
        name: Retrain on a file
        owner: {owner}
        kind: train
        backends: [local]
        parameters:
          type: object
          required: [model_name, dataset, target_column]
          properties:
            model_name: {{type: string, maxLength: 100}}
            dataset: {{type: string, maxLength: 500}}
            target_column: {{type: string, maxLength: 100}}
            algorithm: {{type: string, default: logistic_regression}}
        steps:
          - id: train
            action: train
            input:
              model_name: ${{{{ parameters.model_name }}}}
              dataset: ${{{{ parameters.dataset }}}}
              target_column: ${{{{ parameters.target_column }}}}
              algorithm: ${{{{ parameters.algorithm }}}}
              task: classification
        """
    ).format(owner=team.slug)
    make_template(slug="retrain-file", text=spec)
    source = Path(settings.DATA_ROOT) / "retrain-test" / "train.parquet"
    source.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"a": [1.0, 2.0, 3.0] * 20, "label": [0, 1, 0] * 20}).to_parquet(source)
    run = loop["v1"].run
    run.params = {"dataset": "retrain-test/train.parquet", "target_column": "label", "task": "classification"}
    run.save()
    Endpoint.objects.create(
        team=team, backend="local", source="local", name="labelled", state=EndpointState.IN_SERVICE, created_by=ds
    )
    capture("labelled", pd.DataFrame({"a": [7.0, 8.0, 9.0] * 20, "label": [1, 1, 0] * 20}), at=time.time() - 600)

    monitor = _monitor(ds, loop, endpoint="labelled", template="retrain-file")
    report = compute.monitor_evaluate(monitor_id=monitor.pk)
    assert report.dataset_drift is True, report.message
    started = Retraining.objects.get(monitor=monitor)
    assert started.status == RetrainingStatus.RUNNING, started.message
    assert started.trained_on_note == "" and started.window_rows == 60
    # the window's labelled rows after the model's own 60 training rows, in one file
    assert started.trained_on.endswith("-labelled.parquet") and (started.labelled_rows, started.training_rows) == (
        60,
        60,
    )
    assert pd.read_parquet(Path(settings.DATA_ROOT) / started.trained_on)["a"].tolist()[57:63] == [1, 2, 3, 7, 8, 9]
    params = started.run.params
    assert params["dataset"] == started.trained_on and params["target_column"] == "label"
    assert params["algorithm"] == "logistic_regression"


def test_retraining_that_cannot_start_says_why_and_a_failed_run_is_recorded(loop, ds, admin, make_run):
    monitor = _monitor(ds, loop)
    from apps.catalog.models import Template

    Template.objects.filter(slug="tabular-classifier").update(archived=True)
    compute.monitor_evaluate(monitor_id=monitor.pk)
    refused = Retraining.objects.get(monitor=monitor)
    assert refused.status == RetrainingStatus.NOT_STARTED and "tabular-classifier" in refused.message
    assert AuditEvent.objects.filter(action="monitor.retraining_not_started").exists()
    page_run = make_run(RunStatus.FAILED)
    Retraining.objects.filter(pk=refused.pk).update(status=RetrainingStatus.RUNNING, run=page_run)
    from apps.monitoring.following import retraining_run_ended

    retraining_run_ended(page_run)
    refused.refresh_from_db()
    assert refused.status == RetrainingStatus.RUN_FAILED and not PromotionRequest.objects.exists()


def test_retraining_needs_a_train_template_and_a_model_reference(loop, ds, api):
    body = {
        "name": "x",
        "endpoint": "iris-ep",
        "reference": {"model_version": str(loop["v1"].pk)},
        "retrain_template": "realtime-endpoint",
    }
    bad = api.post("/api/v1/monitors/", body, format="json")
    assert bad.status_code == 400 and "retraining needs a train one" in bad.json()["retrain_template"][0]
    window = {"start": "2026-01-01", "end": "2026-01-02"}
    bad = api.post(
        "/api/v1/monitors/", {**body, "reference": window, "retrain_template": "tabular-classifier"}, format="json"
    )
    assert bad.status_code == 400 and "needs the model" in bad.json()["retrain_template"][0]
    good = api.post("/api/v1/monitors/", {**body, "retrain_template": "tabular-classifier"}, format="json")
    assert good.status_code == 201 and good.json()["retrain_environment"] == "staging"


def test_the_form_offers_train_templates_and_sets_the_retraining(loop, ds, ds_client):
    page = ds_client.get("/monitoring/new/").content.decode()
    assert '<option value="tabular-classifier">Tabular classifier</option>' in page
    assert 'value="realtime-endpoint"' not in page  # a deploy template retrains nothing
    form = {
        "name": "from the form",
        "endpoint": "iris-ep",
        "reference_version": str(loop["v1"].pk),
        "window_hours": 24,
        "schedule": "daily",
        "alert_feature_windows": 3,
        "alert_missing_jump": 20,
        "retrain_template": "tabular-classifier",
        "retrain_on": "feature_streak",
        "retrain_environment": "staging",
    }
    response = ds_client.post("/monitoring/new/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    monitor = loop["v1"].model.team.monitors.get(name="from the form")
    assert (monitor.retrain_template, monitor.retrain_on, monitor.alert_missing_jump) == (
        "tabular-classifier",
        "feature_streak",
        20,
    )
    page = ds_client.get(monitor.get_absolute_url()).content.decode()
    assert "starts <code>tabular-classifier</code>" in page and "rises more than 20 points" in page


def test_a_dataset_monitor_whose_file_carries_labels_retrains_on_them_for_real(
    loop, ds, ds_client, datasets, django_capture_on_commit_callbacks
):
    """The current file has the outcome (``target``, as iris names it): its labelled rows,
    after the model's own training rows, are the shipped template's dataset; the run really
    trains on them (local backend, scikit-learn, the session's MLflow) and ends in a
    challenger and a promotion request."""
    from sklearn.datasets import load_iris

    iris = load_iris(as_frame=True)
    moved = {
        "petal length (cm)": iris.data["petal length (cm)"] + 3,
        "petal width (cm)": iris.data["petal width (cm)"] + 2,
    }
    current = iris.data.assign(**moved, target=iris.target)
    current.loc[:9, "target"] = None  # ten rows whose outcome is not known yet: left out
    path = datasets("scored-with-outcomes.parquet", current)
    monitor = services.monitor_create(
        user=ds,
        name="scored iris",
        dataset=path,
        reference={"model_version": str(loop["v1"].pk)},
        alert_feature_windows=0,
        retrain_template="tabular-classifier",
        label_column="target",
    )
    report = compute.monitor_evaluate(monitor_id=monitor.pk)
    assert report.dataset_drift is True, report.message
    started = Retraining.objects.get(monitor=monitor)
    assert started.status == RetrainingStatus.RUNNING, started.message
    assert started.trained_on_note == "" and (started.labelled_rows, started.training_rows) == (140, 150)
    assert started.trained_on.startswith("monitoring/retraining/") and started.trained_on.endswith("-labelled.parquet")
    trained_on = pd.read_parquet(Path(settings.DATA_ROOT) / started.trained_on)
    assert len(trained_on) == 290 and list(trained_on.columns) == [*iris.data.columns, "target"]
    assert trained_on["petal length (cm)"].iloc[150:].min() >= 4  # the window's rows, as they came
    run = started.run
    assert run.params["dataset"] == started.trained_on and run.params["target_column"] == "target"

    page = ds_client.get(monitor.get_absolute_url()).content.decode()
    assert "140 labelled rows of the window after the model's 150 training rows" in page

    from apps.runs import tasks
    from apps.runs.models import TERMINAL

    deadline = time.monotonic() + 180  # the local backend trains in a process of its own: polled as the beat would
    while run.status not in TERMINAL and time.monotonic() < deadline:
        with django_capture_on_commit_callbacks(execute=True):
            tasks.advance_run.apply(args=[str(run.pk)])
        run.refresh_from_db()
        time.sleep(0.5)
    assert run.status == RunStatus.SUCCEEDED, [(s.status, s.status_message) for s in run.steps.all()]
    with django_capture_on_commit_callbacks():
        hooks.effects_apply(run_id=run.pk)  # the registry links the version; ours hands the promotion to a worker
        done = retraining.retraining_promote(retraining_id=started.pk)  # what that worker runs
    assert done.status == RetrainingStatus.REQUESTED, done.message
    assert done.model_version.version == "2" and done.promotion_request.environment.name == "staging"
    assert loop["client"].get_model_version_by_alias(loop["model_name"], "challenger").version == "2"


def test_the_window_alone_and_a_window_without_labels(loop, ds, datasets):
    from sklearn.datasets import load_iris

    iris = load_iris(as_frame=True)
    moved = iris.data.assign(
        **{
            "petal length (cm)": iris.data["petal length (cm)"] + 3,
            "petal width (cm)": iris.data["petal width (cm)"] + 2,
        }
    )
    alone = services.monitor_create(
        user=ds,
        name="window alone",
        dataset=datasets("labelled.parquet", moved.assign(target=iris.target)),
        reference={"model_version": str(loop["v1"].pk)},
        alert_feature_windows=0,
        retrain_template="tabular-classifier",
        label_column="target",
        retrain_data="window",
    )
    compute.monitor_evaluate(monitor_id=alone.pk)
    started = Retraining.objects.get(monitor=alone)
    assert (started.labelled_rows, started.training_rows) == (150, 0)
    assert len(pd.read_parquet(Path(settings.DATA_ROOT) / started.trained_on)) == 150

    unlabelled = services.monitor_create(
        user=ds,
        name="no outcomes",
        dataset=datasets("unlabelled.parquet", moved),
        reference={"model_version": str(loop["v1"].pk)},
        alert_feature_windows=0,
        retrain_template="tabular-classifier",
        label_column="target",
    )
    compute.monitor_evaluate(monitor_id=unlabelled.pk)
    fallback = Retraining.objects.get(monitor=unlabelled)
    assert fallback.trained_on == "iris" and "carry no 'target' values" in fallback.trained_on_note
    assert fallback.labelled_rows is None
