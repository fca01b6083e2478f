"""What a SageMaker training job runs and its endpoints serve with: the backend
puts ``container_job.py`` and the code it imports in S3 as the job's submit
directory (checked against moto's server over real HTTP), and that program
trains and serves for real. moto runs no container, so the program is run the
way the scikit-learn image runs it: unpacked from the tarball the backend put
in S3, given the job's hyperparameters as SageMaker writes them, with the
image's folders in the ``SM_*`` variables its toolkit sets."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import uuid

import boto3
import joblib
import pytest
from botocore.exceptions import ClientError

from apps.backends.base import BackendError, JobState, TrainingSpec, TuningSpec
from apps.backends.sagemaker.training import PROGRAM, source_bundle
from apps.backends.sandbox.aws import AwsStandIn, create_bucket
from tests.backends.sagemaker.test_sagemaker_backend import make_backend
from tests.conftest import wait_for_job

BUCKET = "atrium-artifacts"


@pytest.fixture(scope="module")
def stand_in():
    server = AwsStandIn()
    server.start()
    create_bucket(server.url, BUCKET)
    yield server
    server.stop()


def s3(url):
    return boto3.client(
        "s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="AKIAX", aws_secret_access_key="x"
    )


def spec(key: str, **overrides) -> TrainingSpec:
    fields = {
        "key": key,
        "model_name": f"iris-{uuid.uuid4().hex[:6]}",
        "dataset": "iris",
        "algorithm": "logistic_regression",
        "task": "classification",
        "hyperparameters": {"C": 1.0, "max_iter": 300},
        "tags": {"team": "alpha"},
    }
    return TrainingSpec(**{**fields, **overrides})


def finish(backend, name: str):
    for _ in range(20):
        status = backend.poll_training(name)
        if status.state in (JobState.SUCCEEDED, JobState.FAILED):
            return status
    raise AssertionError(f"{name} did not finish")


def code_objects(url) -> list[str]:
    listed = s3(url).list_objects_v2(Bucket=BUCKET, Prefix="runs/code/").get("Contents", [])
    return [item["Key"] for item in listed]


def test_a_job_runs_the_uploaded_program_and_its_model_serves_with_it(stand_in):
    backend = make_backend(stand_in.url)
    name = backend.submit_training(spec(f"atr-prog-{uuid.uuid4().hex[:8]}"))

    job = backend.sm.describe_training_job(TrainingJobName=name)
    hyperparameters = job["HyperParameters"]
    assert hyperparameters["sagemaker_program"] == PROGRAM.name
    (key,) = code_objects(stand_in.url)
    assert hyperparameters["sagemaker_submit_directory"] == f"s3://{BUCKET}/{key}"
    names = {d["Name"] for d in job["AlgorithmSpecification"]["MetricDefinitions"]}
    assert {"validation:accuracy", "validation:f1_macro"} <= names

    assert finish(backend, name).state is JobState.SUCCEEDED
    package = backend.sm.describe_model_package(
        ModelPackageName=backend.poll_training(name).outputs["model_package_arn"]
    )
    environment = package["InferenceSpecification"]["Containers"][0]["Environment"]
    assert environment["SAGEMAKER_PROGRAM"] == PROGRAM.name
    assert environment["SAGEMAKER_SUBMIT_DIRECTORY"] == hyperparameters["sagemaker_submit_directory"]

    make_backend(stand_in.url).submit_training(spec(f"atr-prog-{uuid.uuid4().hex[:8]}"))  # another worker
    assert code_objects(stand_in.url) == [key]  # the same code is put there once


def test_a_job_whose_program_is_gone_fails_with_the_reason(stand_in):
    backend = make_backend(stand_in.url)
    backend.submit_training(spec(f"atr-gone-{uuid.uuid4().hex[:8]}"))  # puts the program, and remembers where
    for key in code_objects(stand_in.url):
        s3(stand_in.url).delete_object(Bucket=BUCKET, Key=key)

    status = finish(backend, backend.submit_training(spec(f"atr-gone-{uuid.uuid4().hex[:8]}")))
    assert status.state is JobState.FAILED
    assert "submit directory" in status.message and "does not exist" in status.message


def test_a_throttled_upload_is_retried_later_not_failed(stand_in):
    stand_in.throttle(1)  # S3 answers 503 SlowDown
    try:
        with pytest.raises(BackendError) as caught:
            make_backend(stand_in.url).submit_training(spec(f"atr-slow-{uuid.uuid4().hex[:8]}"))
    finally:
        stand_in.throttle(0)
    assert caught.value.permanent is False and "busy" in caught.value.message


# --- the program, as the scikit-learn image runs it ------------------------------------------


@pytest.fixture
def unpacked(stand_in, tmp_path):
    """A job's hyperparameters and its submit directory, fetched back from S3 and unpacked."""
    backend = make_backend(stand_in.url)
    name = backend.submit_training(spec(f"atr-img-{uuid.uuid4().hex[:8]}"))
    job = backend.sm.describe_training_job(TrainingJobName=name)
    bucket, _, key = job["HyperParameters"]["sagemaker_submit_directory"].removeprefix("s3://").partition("/")
    body = s3(stand_in.url).get_object(Bucket=bucket, Key=key)["Body"].read()
    code = tmp_path / "code"
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        tar.extractall(code, filter="data")
    assert sorted(str(p.relative_to(code)) for p in code.rglob("*.py")) == sorted(source_bundle())
    return job, code


def run_image(job: dict, code, tmp_path, **extra_hyperparameters):
    config, model_dir = tmp_path / "config", tmp_path / "model"
    config.mkdir(exist_ok=True)
    (config / "hyperparameters.json").write_text(json.dumps({**job["HyperParameters"], **extra_hyperparameters}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "PYTHON"))}
    env.update(SM_INPUT_CONFIG_DIR=str(config), SM_MODEL_DIR=str(model_dir), SM_CHANNEL_TRAINING=str(tmp_path))
    ran = subprocess.run(
        [sys.executable, "-I", str(code / PROGRAM.name)],  # -I: nothing but the unpacked files on the path
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    return ran, model_dir


def metrics_as_sagemaker_reads_them(job: dict, stdout: str) -> dict[str, float]:
    found = {}
    for definition in job["AlgorithmSpecification"]["MetricDefinitions"]:
        matches = re.findall(definition["Regex"], stdout)
        if matches:
            found[definition["Name"]] = float(matches[-1])
    return found


def handlers(code):
    loaded = importlib.util.spec_from_file_location("atrium_serving_under_test", code / PROGRAM.name)
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    return module


def test_the_program_trains_reports_metrics_and_serves_the_model(unpacked, tmp_path):
    from sklearn.datasets import load_iris

    job, code = unpacked
    ran, model_dir = run_image(job, code, tmp_path)
    assert ran.returncode == 0, ran.stderr[-3000:]
    metrics = metrics_as_sagemaker_reads_them(job, ran.stdout)
    assert metrics["validation:accuracy"] > 0.8 and "validation:f1_macro" in metrics
    trained = joblib.load(model_dir / "model.joblib")
    assert trained.get_params()["max_iter"] == 300

    # the image's inference server, calling the same file's handlers
    serving = handlers(code)
    model = serving.model_fn(str(model_dir))
    rows = load_iris(as_frame=True).data.iloc[[0, 50, 100]]
    expected = trained.predict(rows).tolist()
    for body in (
        json.dumps({"dataframe_records": rows.to_dict(orient="records")}),
        json.dumps({"dataframe_split": rows.to_dict(orient="split")}),
        json.dumps({"instances": rows.values.tolist()}),
    ):
        answer, content_type = serving.output_fn(
            serving.predict_fn(serving.input_fn(body, "application/json"), model), "application/json"
        )
        assert (json.loads(answer), content_type) == ({"predictions": expected}, "application/json")
    csv_rows = rows.to_csv(index=False, header=False)  # a batch transform's lines
    answer, _ = serving.output_fn(serving.predict_fn(serving.input_fn(csv_rows, "text/csv"), model), "text/csv")
    assert answer.split() == [str(v) for v in expected]
    with pytest.raises(ValueError, match="Expected 4 features"):
        serving.predict_fn(serving.input_fn(json.dumps({"instances": [[1.0, 2.0]]}), "application/json"), model)


def test_a_tuning_trial_s_searched_value_overrides_the_static_one(unpacked, tmp_path):
    job, code = unpacked
    ran, model_dir = run_image(job, code, tmp_path, C="0.25")  # SageMaker passes searched values as strings
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert joblib.load(model_dir / "model.joblib").get_params()["C"] == 0.25


def test_a_failing_program_says_why(unpacked, tmp_path):
    job, code = unpacked
    ran, _ = run_image(job, code, tmp_path, dataset="missing.csv", target_column="y")
    assert ran.returncode != 0
    assert "missing.csv" in ran.stderr.splitlines()[-1]


def test_a_stand_in_that_runs_programs_trains_and_serves_the_real_model(tmp_path):
    """As ``make run`` starts it: the job's program trains (real metrics, a real model in S3) and
    the endpoint answers with that model, through the program's own handlers."""
    from sklearn.datasets import load_iris

    from apps.backends.base import EndpointSpec, EndpointVariant, ModelRef
    from tests.backends.sagemaker.test_sagemaker_backend import settle

    with AwsStandIn(programs_dir=tmp_path) as server:
        create_bucket(server.url, BUCKET)
        backend = make_backend(server.url)
        model = f"iris-ran-{uuid.uuid4().hex[:6]}"
        name = backend.submit_training(spec(f"atr-ran-{uuid.uuid4().hex[:8]}", model_name=model))
        status = wait_for_job(backend.poll_training, name)
        assert status.state is JobState.SUCCEEDED, status.message
        assert 0.8 < status.metrics["validation:accuracy"] <= 1.0
        assert status.metrics["validation:accuracy"] != 0.95  # not the made-up number
        assert status.model == ModelRef(model, "1")
        artifact = status.outputs["model_uri"].removeprefix("s3://").partition("/")
        with tarfile.open(
            fileobj=io.BytesIO(s3(server.url).get_object(Bucket=artifact[0], Key=artifact[2])["Body"].read())
        ) as tar:
            assert tar.getnames() == ["model.joblib"]

        endpoint = f"ran-{uuid.uuid4().hex[:8]}"
        backend.deploy_endpoint(EndpointSpec(endpoint, [EndpointVariant("blue", ModelRef(model, "1"), "ml.m5.large")]))
        settle(backend, endpoint)
        rows = load_iris(as_frame=True).data.iloc[[0, 50, 100]]
        answer = backend.invoke(endpoint, {"dataframe_records": rows.to_dict(orient="records")})
        assert answer == {"predictions": [0, 1, 2], "_variant": "blue"}
        with pytest.raises(BackendError) as caught:
            backend.invoke(endpoint, {"instances": [[1.0, 2.0]]})
        assert caught.value.permanent and "Expected 4 features" in caught.value.message
        # as boto3 reads SageMaker's errors: the container's own status in the ModelError, a bad TargetVariant
        runtime = boto3.client(
            "sagemaker-runtime",
            endpoint_url=server.url,
            region_name="us-east-1",
            aws_access_key_id="AKIAX",
            aws_secret_access_key="x",
        )
        call = {"EndpointName": endpoint, "ContentType": "application/json"}
        setosa = json.dumps({"instances": [[5.1, 3.5, 1.4, 0.2]]})
        answer = runtime.invoke_endpoint(**call, Body=setosa, TargetVariant="blue")
        assert answer["InvokedProductionVariant"] == "blue"
        with pytest.raises(ClientError) as refused:
            runtime.invoke_endpoint(**call, Body=json.dumps({"instances": [[1.0, 2.0]]}))
        assert refused.value.response["Error"]["Code"] == "ModelError"
        assert refused.value.response["OriginalStatusCode"] == 400
        assert "Expected 4 features" in refused.value.response["OriginalMessage"]
        with pytest.raises(ClientError) as unknown:
            runtime.invoke_endpoint(**call, Body=setosa, TargetVariant="nope")
        assert unknown.value.response["Error"]["Code"] == "ValidationError"

        # a search: each trial runs the program with its drawn value; the best is picked by what they reported
        search = TuningSpec(
            key=f"atr-tune-{uuid.uuid4().hex[:8]}",
            model_name=f"{model}-tuned",
            dataset="iris",
            algorithm="logistic_regression",
            task="classification",
            search_space={"C": {"type": "float", "low": 0.01, "high": 10.0, "log": True}},
            max_trials=2,
            tags={"team": "alpha"},
        )
        tuning = backend.submit_tuning(search)
        searched = wait_for_job(backend.poll_tuning, tuning)
        assert searched.state is JobState.SUCCEEDED, searched.message
        best = backend.sm.describe_training_job(TrainingJobName=searched.outputs["best_training_job"])
        reported = {m["MetricName"]: m["Value"] for m in best["FinalMetricDataList"]}
        assert {"validation:accuracy", "validation:f1_macro"} <= set(reported)  # the program's, not made up
        assert searched.outputs["best_score"] == reported["validation:accuracy"]
