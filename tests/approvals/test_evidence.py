"""The evidence pack's own checks on real models, really scored.

Models are trained and registered by the training job's own code
(``apps.backends.jobs.train_job.train``: load, split, fit, evaluate, log with
the sklearn flavour in skops format, register) run in this process against
the session's real MLflow server, not through a Celery worker: the checks
only need registered versions, and a worker would add half a minute. The
checks then load those versions back from MLflow through the local backend,
as the evidence run does. Requests, policies and registry rows are made with
the ORM (the approvals services are written elsewhere). No worker, no mocks:
the one stand-in is a spy on the backend's ``score_request`` that records
the request bodies the latency check sends and passes them on.
"""

from __future__ import annotations

import json
import uuid
import warnings
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from django.utils import timezone

from apps.approvals.evidence import CHECKS, check_collect
from apps.approvals.evidence import latency as latency_module
from apps.approvals.evidence.scoring import rows_digest
from apps.approvals.models import Environment, EvidenceCheck, Policy, PromotionRequest
from apps.backends.jobs.training import TrainingRequest, evaluate, load_dataset, split
from apps.registry.models import ModelVersion, RegisteredModel
from apps.runs.models import Run, RunStep

pytestmark = pytest.mark.django_db

OWN_CHECKS = ("champion", "explainability", "bias", "latency", "cost", "lineage")
SUFFIX = uuid.uuid4().hex[:6]  # model names of this session (the MLflow server is the session's)


# --- data and trained models -----------------------------------------------------------------


def _write_datasets(data_root: Path) -> None:
    """Two CSV datasets: one whose ``leak`` column is the target, one biased on ``group``."""
    folder = data_root / "evidence"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    n = 400
    noise = rng.normal(size=(n, 3))
    label = (noise[:, 0] + rng.normal(scale=2.0, size=n) > 0).astype(int)
    leak = pd.DataFrame({"a": noise[:, 0], "b": noise[:, 1], "c": noise[:, 2], "leak": label, "label": label})
    leak.to_csv(folder / "leak.csv", index=False)

    n = 1000
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    group = rng.integers(0, 2, size=n)
    age = rng.integers(18, 80, size=n)
    # The label follows x1 for group 0 and is a coin toss for group 1: the model is
    # right for one group and guesses for the other.
    label = np.where(group == 0, (x1 > 0).astype(int), rng.integers(0, 2, size=n))
    biased = pd.DataFrame({"x1": x1, "x2": x2, "group": group, "age": age, "label": label})
    biased.to_csv(folder / "biased.csv", index=False)


TRAININGS = {
    # key: (model name, dataset, task, algorithm, hyperparameters, target column)
    "iris-good": ("iris", "iris", "classification", "logistic_regression", {"max_iter": 300}, None),
    "iris-weak": ("iris", "iris", "classification", "decision_tree", {"max_depth": 1}, None),
    "diabetes-good": ("diabetes", "diabetes", "regression", "linear_regression", {}, None),
    "diabetes-weak": ("diabetes", "diabetes", "regression", "decision_tree", {"max_depth": 1}, None),
    "leak": ("leak", "evidence/leak.csv", "classification", "logistic_regression", {}, "label"),
    "biased": ("biased", "evidence/biased.csv", "classification", "logistic_regression", {}, "label"),
}


@pytest.fixture(scope="module")
def trained(mlflow_server, tmp_path_factory):
    """``trained(key)``: the training spec and the job's outputs, trained on first use."""
    import mlflow
    from django.conf import settings

    from apps.backends.jobs.train_job import JobFiles, train

    data_root = Path(settings.DATA_ROOT)
    _write_datasets(data_root)
    done: dict[str, tuple[dict, dict]] = {}

    def get(key: str):
        if key not in done:
            name, dataset, task, algorithm, hyperparameters, target = TRAININGS[key]
            spec = {
                "key": f"evidence-{key}-{SUFFIX}",
                "model_name": f"evidence-{name}-{SUFFIX}",
                "dataset": dataset,
                "task": task,
                "algorithm": algorithm,
                "hyperparameters": hyperparameters,
                "target_column": target,
                "dataset_options": {},
                "data_root": str(data_root),
                "tracking_uri": mlflow_server,
                "experiment": "evidence-tests",
                "tags": {},
            }
            job_dir = tmp_path_factory.mktemp(key)
            (job_dir / "spec.json").write_text(json.dumps(spec))
            previous = mlflow.get_tracking_uri()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)  # as the job's main() does: MLflow's hints
                    outputs = train(JobFiles(job_dir))
            finally:
                mlflow.set_tracking_uri(previous)
            done[key] = (spec, outputs)
        return done[key]

    return get


@pytest.fixture
def backend(settings, mlflow_server):
    from apps.backends.local.backend import LocalBackend

    settings.MLFLOW_TRACKING_URI = mlflow_server
    return LocalBackend(
        jobs_dir=Path(settings.LOCAL_JOBS_DIR),
        tracking_uri=mlflow_server,
        data_root=Path(settings.DATA_ROOT),
        ui_url=mlflow_server,
    )


# --- portal rows ---------------------------------------------------------------------------


@pytest.fixture
def registered(trained, team, ds):
    """``registered(key)``: the portal's registry row of a trained version, with its training run."""
    models: dict[str, RegisteredModel] = {}

    def make(key: str, *, primary_metric: str = "", with_run: bool = True, version: str | None = None, tags=None):
        spec, outputs = trained(key)
        name = spec["model_name"]
        model = models.get(name) or RegisteredModel.objects.filter(source="local", name=name).first()
        if model is None:
            model = RegisteredModel.objects.create(team=team, backend="local", source="local", name=name)
        if primary_metric:
            model.primary_metric = primary_metric
            model.save(update_fields=["primary_metric"])
        models[name] = model
        number = version or outputs["model_version"]
        params = {k: spec[k] for k in ("dataset", "algorithm", "task", "hyperparameters", "target_column")}
        params["model_name"] = name
        run = None
        if with_run:
            run_id = uuid.uuid4()
            run = Run.objects.create(
                id=run_id,
                team=team,
                created_by=ds,
                kind="train",
                backend="local",
                status="succeeded",
                params=params,
                idempotency_key=f"atr-{run_id.hex}",
            )
            RunStep.objects.create(
                run=run,
                position=0,
                key="train",
                name="Training",
                action="train",
                params=params,
                status="succeeded",
                idempotency_key=f"atr-{run_id.hex}-0",
                model_name=name,
                model_version=str(number),
                outputs={"mlflow_run_id": outputs["mlflow_run_id"]},
                links=[{"label": "MLflow run", "url": f"http://mlflow.example/#/runs/{outputs['mlflow_run_id']}"}],
            )
        return ModelVersion.objects.create(
            model=model,
            version=str(number),
            number=int(number),
            run=run,
            params={} if with_run else {"dataset": spec["dataset"], "algorithm": spec["algorithm"]},
            dataset=spec["dataset"],
            source_run_id=outputs["mlflow_run_id"],
            tags=tags or {},
        )

    return make


@pytest.fixture
def make_request(team, ds):
    def make(candidate, *, champion=None, checks=None, sensitive_column="", deployment=None, environment=None):
        environment = Environment.objects.create(team=team, name=environment or f"production-{uuid.uuid4().hex[:6]}")
        policy = Policy.objects.create(
            environment=environment, version=1, checks=checks or {}, sensitive_column=sensitive_column
        )
        return PromotionRequest.objects.create(
            team=team,
            environment=environment,
            policy=policy,
            model_version=candidate,
            champion=champion,
            requested_by=ds,
            deployment=deployment or {"target": "cpu", "instance_count": 1},
            expires_at=timezone.now() + timedelta(days=7),
        )

    return make


def collect(request, key, backend):
    check_collect(request_id=request.pk, key=key, backend=backend)
    return EvidenceCheck.objects.get(request=request, key=key)


def held_out_rows(dataset: str, task: str, target: str | None = None):
    """The held-out fifth, rebuilt here from the training code, independently of the checks."""
    from django.conf import settings

    request = TrainingRequest(dataset, "", task, {}, "x", target, {})
    X, y = load_dataset(request, data_root=Path(settings.DATA_ROOT))
    _, X_test, _, y_test = split(X, y, task)
    return X_test, y_test


def mlflow_model(mlflow_server, version):
    """The registered version, loaded with MLflow's own API (not the backend's loader)."""
    import mlflow.sklearn

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(mlflow_server)
    try:
        return mlflow.sklearn.load_model(f"models:/{version.model.name}/{version.version}")
    finally:
        mlflow.set_tracking_uri(previous)


# --- champion --------------------------------------------------------------------------------


def test_champion_and_candidate_are_scored_on_the_same_held_out_rows(registered, make_request, backend, mlflow_server):
    weak, good = registered("iris-weak"), registered("iris-good")
    request = make_request(good, champion=weak)

    check = collect(request, "champion", backend)

    assert check.status == "passed", check.summary
    scored = check.figures["Scored rows"]
    X_test, y_test = held_out_rows("iris", "classification")
    assert scored["Candidate"]["rows"] == scored["Champion"]["rows"] == len(X_test) == 30
    assert scored["Candidate"]["rows_digest"] == scored["Champion"]["rows_digest"] == rows_digest(X_test)
    expected_candidate = evaluate(mlflow_model(mlflow_server, good), X_test, y_test, "classification")
    expected_champion = evaluate(mlflow_model(mlflow_server, weak), X_test, y_test, "classification")
    metrics = {row["Metric"]: row for row in check.figures["Metrics"]}
    assert set(metrics) == set(expected_candidate)
    for name, row in metrics.items():
        assert row["Candidate"] == pytest.approx(expected_candidate[name])
        assert row["Champion"] == pytest.approx(expected_champion[name])
    assert expected_candidate["accuracy"] > expected_champion["accuracy"]  # a depth-1 tree cannot split 3 classes
    assert metrics["accuracy"]["Verdict"] == "better"
    assert "better" in check.summary and str(weak) in check.summary


def test_a_candidate_worse_than_the_champion_by_more_than_max_drop_fails(registered, make_request, backend):
    weak, good = registered("iris-weak"), registered("iris-good")

    check = collect(make_request(weak, champion=good, checks={"champion": {"max_drop": 0.01}}), "champion", backend)

    assert check.status == "failed"
    assert "more than the allowed 0.01" in check.summary
    accuracy = next(row for row in check.figures["Metrics"] if row["Metric"] == "accuracy")
    assert accuracy["Verdict"] == "worse" and accuracy["Change"] < -0.01

    # The same drop passes under a policy that allows it.
    allowed = make_request(weak, champion=good, checks={"champion": {"max_drop": 0.9}})
    assert collect(allowed, "champion", backend).status == "passed"


def test_lower_rmse_is_better(registered, make_request, backend):
    """rmse as the primary metric: the candidate with the lower rmse wins, the higher one fails."""
    weak = registered("diabetes-weak", primary_metric="rmse")
    good = registered("diabetes-good", primary_metric="rmse")

    better = collect(make_request(good, champion=weak), "champion", backend)
    worse = collect(make_request(weak, champion=good), "champion", backend)

    assert better.status == "passed" and worse.status == "failed", (better.summary, worse.summary)
    assert better.figures["Primary metric"] == "rmse (lower is better)"
    rmse = next(row for row in better.figures["Metrics"] if row["Metric"] == "rmse")
    assert rmse["Change"] < 0 and rmse["Verdict"] == "better" and rmse["Better when"] == "lower"
    r2 = next(row for row in worse.figures["Metrics"] if row["Metric"] == "r2")
    assert r2["Change"] < 0 and r2["Verdict"] == "worse"
    assert "rmse" in worse.summary


def test_no_champion_reports_the_candidates_own_scores(registered, make_request, backend):
    good = registered("iris-good")
    request = make_request(good, environment="staging")

    check = collect(request, "champion", backend)

    assert check.status == "passed"
    assert check.summary.startswith("No champion in staging yet: the candidate's own scores")
    assert {row["Metric"] for row in check.figures["Metrics"]} == {"accuracy", "f1_macro"}
    assert check.figures["Scored rows"]["Candidate"]["rows"] == 30


def test_a_champion_taking_other_features_is_not_applicable(registered, make_request, backend):
    check = collect(make_request(registered("iris-good"), champion=registered("leak")), "champion", backend)

    assert check.status == "not_applicable"
    assert "leak" in check.summary and "does not have" in check.summary


# --- explainability -------------------------------------------------------------------------------


def test_shap_importances_of_a_real_model(registered, make_request, backend):
    check = collect(make_request(registered("iris-good")), "explainability", backend)

    assert check.status == "passed", check.summary
    assert check.figures["Explainer"].startswith("LinearExplainer")
    top = check.figures["Top features"]
    assert len(top) == 4 and all(row["Mean |SHAP|"] > 0 for row in top)
    assert top[0]["Feature"].startswith("petal")  # iris is told apart by its petals
    assert sum(row["Share (%)"] for row in top) == pytest.approx(100, abs=0.5)
    bars = check.chart["data"][0]
    assert bars["type"] == "bar" and bars["orientation"] == "h"
    assert bars["y"][-1] == top[0]["Feature"]  # the largest at the top


def test_a_feature_that_copies_the_target_dominates_and_warns(registered, make_request, backend):
    check = collect(make_request(registered("leak")), "explainability", backend)

    assert check.status == "warning"
    assert check.figures["Top features"][0]["Feature"] == "leak"
    assert check.figures["Top features"][0]["Share (%)"] > 80
    assert "leak" in check.summary and "copy of the target" in check.summary


def test_tree_models_get_the_tree_explainer(registered, make_request, backend):
    check = collect(make_request(registered("iris-weak")), "explainability", backend)

    assert check.figures["Explainer"] == "TreeExplainer"
    # A depth-1 tree splits on one petal feature: it carries all the importance, which warns.
    assert check.status == "warning", check.summary
    assert check.figures["Top features"][0]["Feature"].startswith("petal")
    assert check.figures["Top features"][0]["Share (%)"] == 100


def test_other_models_get_a_sampled_explainer():
    """A model shap has no fast explainer for (an SVM) is explained by permutations."""
    from sklearn.svm import SVC

    from apps.approvals.evidence.explain import BACKGROUND_ROWS, importances, shap_values

    X_test, y_test = held_out_rows("iris", "classification")
    model = SVC().fit(X_test, y_test)
    values, method, explained = shap_values(model, X_test.head(BACKGROUND_ROWS), X_test)

    assert method.startswith("sampled permutation explainer")
    assert values.shape == (len(explained), 4)
    ranked = importances(values, list(X_test.columns))
    assert ranked[0][0].startswith("petal") and ranked[-1][1] < ranked[0][1]


# --- bias -------------------------------------------------------------------------------------------


def test_fairlearn_finds_the_biased_group(registered, make_request, backend, mlflow_server):
    from sklearn.metrics import accuracy_score

    version = registered("biased")
    check = collect(make_request(version, sensitive_column="group"), "bias", backend)

    assert check.status == "failed"
    assert check.summary.startswith("High-severity bias finding")
    X_test, y_test = held_out_rows("evidence/biased.csv", "classification", "label")
    predicted = mlflow_model(mlflow_server, version).predict(X_test)
    by_group = {row["Group"]: row for row in check.figures["By group"]}
    assert set(by_group) == {"0", "1"}
    expected = {}
    for group in (0, 1):
        rows = (X_test["group"] == group).to_numpy()
        expected[group] = accuracy_score(y_test[rows], predicted[rows])
        assert by_group[str(group)]["Rows"] == rows.sum()
        assert by_group[str(group)]["Accuracy"] == pytest.approx(expected[group])
        assert 0 <= by_group[str(group)]["Selection rate"] <= 1
    disparity = check.figures["Disparity (largest difference between groups)"]["Accuracy"]
    assert disparity == pytest.approx(abs(expected[0] - expected[1]))
    assert disparity > 0.2 and check.figures["Severity"] == "high"


def test_a_numeric_column_is_binned_into_quartiles(registered, make_request, backend):
    check = collect(make_request(registered("biased"), sensitive_column="age"), "bias", backend)

    assert check.status in ("passed", "warning", "failed")
    assert "binned into quartiles" in check.figures["Groups"]
    assert len(check.figures["By group"]) == 4
    assert sum(row["Rows"] for row in check.figures["By group"]) == 200


def test_bias_without_a_sensitive_column(registered, make_request, backend):
    version = registered("biased")

    none = collect(make_request(version), "bias", backend)
    unknown = collect(make_request(version, sensitive_column="gender"), "bias", backend)
    version.tags = {"atrium.sensitive_column": "group"}  # the dataset declares it
    version.save(update_fields=["tags"])
    from_tag = collect(make_request(version), "bias", backend)

    assert none.status == "not_applicable"
    assert none.summary == "No sensitive column named by the policy or the dataset."
    assert unknown.status == "not_applicable" and "gender" in unknown.summary
    assert from_tag.status == "failed"  # the dataset's own declaration is used when the policy names none


# --- latency -----------------------------------------------------------------------------------------


def test_latency_of_batches_in_the_serving_format(registered, make_request, backend, monkeypatch):
    from sklearn.datasets import load_iris

    from apps.approvals.evidence.scoring import loaded_model

    monkeypatch.setattr(latency_module, "BUDGET_SECONDS", 0.2)
    sent = []
    score = backend.score_request

    def spy(model, body, content_type):
        sent.append((body, content_type))
        return score(model, body, content_type)

    monkeypatch.setattr(backend, "score_request", spy)
    request = make_request(registered("iris-good"), checks={"latency": {"batch_rows": 16}})

    check = collect(request, "latency", backend)

    assert check.status == "passed", check.summary
    figures = check.figures
    assert 0 < figures["p50 (ms)"] <= figures["p95 (ms)"]
    assert figures["Batches timed"] == len(sent) - 1 >= latency_module.MIN_BATCHES  # after one warm-up batch
    assert figures["Rows per batch"] == 16
    # Every batch was a request body the local endpoint takes: MLflow's dataframe_split as JSON.
    for body, content_type in sent:
        assert content_type == "application/json"
        rows = json.loads(body)["dataframe_split"]
        assert rows["columns"] == load_iris().feature_names and len(rows["data"]) == 16
    answer = json.loads(score(loaded_model(backend, request.model_version), sent[-1][0], "application/json"))
    assert len(answer["predictions"]) == 16 and set(answer["predictions"]) <= {0, 1, 2}


def test_a_p95_over_the_policys_limit_fails(registered, make_request, backend, monkeypatch):
    monkeypatch.setattr(latency_module, "BUDGET_SECONDS", 0.1)
    request = make_request(registered("iris-good"), checks={"latency": {"max_p95_ms": 0.0001}})

    check = collect(request, "latency", backend)

    assert check.status == "failed" and "over the allowed 0.0001 ms" in check.summary


# --- cost --------------------------------------------------------------------------------------------------


def test_monthly_cost_from_the_sagemaker_price_table(registered, make_request, backend, admin):
    from apps.backends.sagemaker.pricing import load_prices
    from apps.connections.services import connection_create

    connection = connection_create(
        user=admin,
        name=f"aws-{uuid.uuid4().hex[:6]}",
        kind="sagemaker",
        config={
            "region": "us-east-1",
            "endpoint_url": "http://127.0.0.1:9",  # never called: instance types and prices are local
            "execution_role_arn": "arn:aws:iam::123456789012:role/atrium-sagemaker",
            "output_s3_uri": "s3://atrium-artifacts/evidence",
        },
        secrets={"access_key_id": "AKIAEVIDENCE", "secret_access_key": "not-a-secret"},
        teams=[],
        is_sandbox=True,
    )
    version = registered("iris-good")
    deployment = {"connection": str(connection.pk), "target": "cpu", "instance_count": 3}
    request = make_request(version, deployment=deployment, checks={"cost": {"requests_per_second": 10}})

    check = collect(request, "cost", backend)

    price = load_prices()["hosting"]["ml.m5.large"]  # the cpu target's instance type
    assert check.status == "passed", check.summary
    assert check.figures["Instance type"] == "ml.m5.large"
    assert check.figures["Price per instance-hour (USD)"] == price
    assert check.figures["Monthly (USD / month)"] == pytest.approx(round(price * 3 * 730, 2))
    per_thousand = price * 3 * 730 / (10 * 3600 * 730) * 1000
    assert check.figures["Per 1,000 predictions (USD)"] == pytest.approx(per_thousand, abs=1e-6)
    assert "at 10 requests per second" in check.summary

    over = make_request(
        version, deployment={**deployment, "connection": connection.name}, checks={"cost": {"max_monthly": 100}}
    )
    assert collect(over, "cost", backend).status == "failed"
    unpriced = make_request(version, deployment={**deployment, "instance_type": "ml.m5.24xlarge"})
    check = collect(unpriced, "cost", backend)
    assert check.status == "warning" and "no price for ml.m5.24xlarge" in check.summary


def test_local_cost_uses_the_operators_cpu_hour_rate(registered, make_request, backend):
    backend.cpu_hour_rate = 0.05
    request = make_request(registered("iris-good"), deployment={"target": "cpu", "instance_count": 2})

    check = collect(request, "cost", backend)

    assert check.status == "passed"
    assert check.figures["Instance type"] == "local-cpu"
    assert check.figures["Monthly (USD / month)"] == pytest.approx(0.05 * 2 * 730)


@pytest.fixture
def admin(make_user):
    from apps.accounts.models import Role

    return make_user(f"admin-{uuid.uuid4().hex[:6]}", role=Role.ADMIN)


# --- lineage ----------------------------------------------------------------------------------------------


def test_lineage_links_the_dataset_the_run_and_the_version(registered, make_request, backend, trained):
    version = registered("iris-good")

    check = collect(make_request(version), "lineage", backend)

    assert check.status == "passed"
    assert check.figures["Dataset"] == "iris"
    assert check.figures["Training run"]["url"] == version.run.get_absolute_url()
    assert check.figures["Model version"]["url"] == version.get_absolute_url()
    assert check.figures["Source run id"] == trained("iris-good")[1]["mlflow_run_id"]
    labels = [link["label"] for link in check.figures["Links"]]
    assert labels == ["Training run", "Model version", "MLflow run"]  # the portal's pages first


def test_a_version_trained_outside_the_portal_warns(registered, make_request, backend):
    version = registered("iris-good", with_run=False, version="1")
    request = make_request(version)

    check = collect(request, "lineage", backend)

    assert check.status == "warning"
    assert check.summary.startswith("Trained outside the portal: no run on record")
    # Its held-out data is still rebuilt from what the registry recorded (dataset, algorithm).
    assert collect(request, "champion", backend).status == "passed"


# --- a model that cannot be loaded ---------------------------------------------------------------------------


def test_a_model_that_cannot_be_loaded_is_an_error_and_the_other_checks_are_collected(
    registered, make_request, backend
):
    assert set(OWN_CHECKS) <= set(CHECKS)
    missing = registered("iris-good", version="99")  # never registered in MLflow
    request = make_request(missing, sensitive_column="petal width (cm)")

    for key in OWN_CHECKS:
        check_collect(request_id=request.pk, key=key, backend=backend)

    checks = {check.key: check for check in EvidenceCheck.objects.filter(request=request)}
    for key in ("champion", "explainability", "bias", "latency"):
        assert checks[key].status == "error", (key, checks[key].summary)
        assert checks[key].summary.startswith("Could not be collected: Loading")
        assert "version 99" in checks[key].summary
    assert checks["cost"].status == "passed"
    assert checks["lineage"].status == "passed"


def test_a_model_that_is_not_scikit_learn_is_an_error_saying_so(make_request, backend, team, mlflow_server):
    import mlflow
    import mlflow.pyfunc

    name = f"evidence-custom-{SUFFIX}"
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(mlflow_server)
    try:

        class Custom(mlflow.pyfunc.PythonModel):  # a local class: pickled by value, loads anywhere
            def predict(self, context, model_input: list[str], params=None) -> list[int]:
                return [0] * len(model_input)

        with mlflow.start_run():
            info = mlflow.pyfunc.log_model(
                name="model", python_model=Custom(), registered_model_name=name, pip_requirements=["mlflow"]
            )
    finally:
        mlflow.set_tracking_uri(previous)
    model = RegisteredModel.objects.create(team=team, backend="local", source="local", name=name)
    number = int(info.registered_model_version)
    version = ModelVersion.objects.create(model=model, version=str(number), number=number, params={"dataset": "iris"})

    check = collect(make_request(version), "champion", backend)

    assert check.status == "error"
    assert "is not a scikit-learn model" in check.summary


def test_training_data_that_is_gone_is_an_error_saying_so(make_request, backend, team):
    model = RegisteredModel.objects.create(team=team, backend="local", source="local", name=f"gone-{SUFFIX}")
    params = {"dataset": "evidence/gone.csv", "task": "classification", "target_column": "label"}
    version = ModelVersion.objects.create(model=model, version="1", number=1, params=params)

    check = collect(make_request(version), "champion", backend)

    assert check.status == "error"
    assert check.summary == (
        "Could not be collected: The training data evidence/gone.csv is gone: no held-out rows to score."
    )
