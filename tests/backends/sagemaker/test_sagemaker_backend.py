"""The SageMaker backend against the AWS stand-in (moto's server with our
extensions) over real HTTP. No Django database needed."""

import uuid
from datetime import date

import boto3
import pytest

from apps.backends.base import (
    Backend,
    BackendError,
    BatchSpec,
    EndpointSpec,
    EndpointVariant,
    JobState,
    ModelRef,
    NotReady,
    ResourceSpec,
    TrainingSpec,
    TuningSpec,
)
from apps.backends.sagemaker.backend import SageMakerBackend
from apps.backends.sagemaker.instances import training_instance_types
from apps.backends.sandbox.aws import AwsStandIn, create_bucket, seed_costs
from tests.conftest import wait_for_job

TAGS = {"team": "alpha", "project": "churn", "model": "m", "run": "r1"}


@pytest.fixture(scope="module")
def stand_in():
    server = AwsStandIn()
    server.start()
    create_bucket(server.url, "atrium-artifacts")  # the output bucket an operator would have made
    yield server
    server.stop()


def make_backend(url, *, key="AKIATESTINGSTANDIN", **config):
    return SageMakerBackend.from_connection(
        {
            "region": "us-east-1",
            "endpoint_url": url,
            "execution_role_arn": "arn:aws:iam::123456789012:role/atrium-sagemaker",
            "output_s3_uri": "s3://atrium-artifacts/runs",
            "max_attempts": 1,
            "bake_seconds": 0,
            **config,
        },
        {"access_key_id": key, "secret_access_key": "stand-in-secret"},
    )


@pytest.fixture
def backend(stand_in):
    return make_backend(stand_in.url)


def sm_client(url):
    return boto3.client(
        "sagemaker", endpoint_url=url, region_name="us-east-1", aws_access_key_id="AKIAX", aws_secret_access_key="x"
    )


def new_key():
    return f"atr-{uuid.uuid4().hex}"


def spec(key=None, model_name="churn-model", **extra):
    return TrainingSpec(
        key=key or new_key(),
        model_name=model_name,
        dataset="iris",
        algorithm="random_forest",
        task="classification",
        hyperparameters=extra.pop("hyperparameters", {"n_estimators": 50}),
        instance_type=extra.pop("instance_type", "ml.m5.large"),
        tags={**TAGS, "model": model_name},
        **extra,
    )


def train(backend, training_spec):
    job = backend.submit_training(training_spec)
    states, cursor = [], 0
    for _ in range(10):
        status = backend.poll_training(job, log_cursor=cursor)
        cursor = status.log_cursor
        states.append(status.state)
        if status.state.is_terminal:
            return status, states
    raise AssertionError(f"job did not finish: {states}")


def settle(backend, name, limit=10):
    seen = []
    for _ in range(limit):
        status = backend.get_endpoint(name)
        seen.append(status.state)
        if status.state == "in_service":
            return status, seen
    raise AssertionError(f"endpoint did not settle: {seen}")


def test_backend_meets_the_protocol(backend):
    assert isinstance(backend, Backend)
    assert "secret" not in repr(backend)


def test_check_reports_each_service(backend):
    checks = backend.check()
    assert {c["check"] for c in checks} >= {"credentials", "sagemaker"}
    assert all(c["ok"] for c in checks), checks


def test_training_passes_through_in_progress_to_completed(backend):
    status, states = train(backend, spec())
    assert states == [JobState.PENDING, JobState.RUNNING, JobState.SUCCEEDED]
    assert status.progress == 100
    assert status.model is not None and status.model.version
    assert status.outputs["model_uri"].startswith("s3://atrium-artifacts/runs/training/")


def test_a_completed_training_reports_its_model_metrics_and_pages(backend):
    model_name = f"typed_{uuid.uuid4().hex[:6]}.v1"  # '_' and '.' are not in a group name
    status, _ = train(backend, spec(model_name=model_name))
    group = model_name.replace("_", "-").replace(".", "-")
    assert status.model == ModelRef(group, "1")
    # the name the registry lists the model by, and under which it finds the version
    assert group in {m.name for m in backend.list_registered_models()}
    assert [v.version for v in backend.list_model_versions(status.model.name)] == ["1"]
    assert status.metrics == {"validation:accuracy": 0.95}  # what the stand-in reports, as floats
    job = status.outputs["training_job"]
    assert [(link.label, link.url) for link in status.links] == [
        (
            "SageMaker training job",
            f"https://us-east-1.console.aws.amazon.com/sagemaker/home?region=us-east-1#/jobs/{job}",
        ),
        (
            "SageMaker model package group",
            f"https://us-east-1.console.aws.amazon.com/sagemaker/home?region=us-east-1#/model-registry/{group}",
        ),
    ]
    assert status.outputs["model_package_arn"].endswith(f"/{group}/1")
    assert not {"model_name", "model_group", "model_version", "metrics"} & set(status.outputs)
    running = backend.poll_training(backend.submit_training(spec()))
    assert running.model is None and running.metrics == {}
    assert [link.label for link in running.links] == ["SageMaker training job"]


def test_logs_come_from_status_transitions_with_a_cursor(backend):
    job = backend.submit_training(spec())
    first = backend.poll_training(job)
    second = backend.poll_training(job, log_cursor=first.log_cursor)
    assert any("Starting" in line for line in first.logs)
    assert second.logs and all("Starting" not in line for line in second.logs)


def test_gpu_training_and_hyperparameters_carry_the_spec(backend, stand_in):
    training = spec(instance_type="ml.g4dn.xlarge", hyperparameters={"max_depth": 3})
    backend.submit_training(training)
    job = sm_client(stand_in.url).describe_training_job(TrainingJobName=training.key)
    assert job["ResourceConfig"]["InstanceType"] == "ml.g4dn.xlarge"
    assert "gpu" in job["AlgorithmSpecification"]["TrainingImage"]
    assert job["HyperParameters"]["algorithm"] == "random_forest"
    assert job["HyperParameters"]["hyperparameters"] == '{"max_depth": 3}'
    tags = sm_client(stand_in.url).list_tags(ResourceArn=job["TrainingJobArn"])["Tags"]
    assert {"Key": "team", "Value": "alpha"} in tags


def test_idempotent_resubmit_creates_no_second_job(backend, stand_in):
    training = spec()
    assert backend.submit_training(training) == backend.submit_training(training) == training.key
    jobs = sm_client(stand_in.url).list_training_jobs(NameContains=training.key)["TrainingJobSummaries"]
    assert len(jobs) == 1


def test_failure_on_request_gives_the_failure_reason(backend):
    status, _ = train(backend, spec(hyperparameters={"sandbox_fail": "CUDA out of memory"}))
    assert status.state is JobState.FAILED
    assert "CUDA out of memory" in status.message


def test_cancel_stops_the_job(backend):
    job = backend.submit_training(spec())
    backend.poll_training(job)
    backend.cancel_training(job)
    assert backend.poll_training(job).state is JobState.CANCELLED
    backend.cancel_training(job)  # again: nothing to stop, no error


def test_throttling_is_transient_and_a_retry_succeeds(backend, stand_in):
    job = backend.submit_training(spec())
    stand_in.throttle(1)
    with pytest.raises(BackendError) as caught:
        backend.poll_training(job)
    assert caught.value.permanent is False
    assert "busy" in caught.value.message
    assert backend.poll_training(job).state is JobState.PENDING


def test_faults_can_be_set_over_http(backend, stand_in):
    import json
    import urllib.request

    job = backend.submit_training(spec())
    request = urllib.request.Request(  # noqa: S310 - the stand-in's URL
        stand_in.url + "/_sandbox/faults", data=json.dumps({"throttle": 1}).encode(), method="POST"
    )
    with urllib.request.urlopen(request) as response:  # noqa: S310
        assert json.loads(response.read()) == {"throttle": 1}
    with pytest.raises(BackendError) as caught:
        backend.poll_training(job)
    assert not caught.value.permanent
    backend.poll_training(job)


def test_botocore_retries_absorb_a_short_throttle(stand_in):
    patient = make_backend(stand_in.url, max_attempts=3)
    job = patient.submit_training(spec())
    stand_in.throttle(2)
    assert patient.poll_training(job).state is JobState.PENDING


def test_access_denied_is_permanent_with_a_clear_message(stand_in):
    denied = make_backend(stand_in.url, key="AKIADENIEDSTANDIN0")
    with pytest.raises(BackendError) as caught:
        denied.submit_training(spec())
    assert caught.value.permanent is True
    assert "access denied" in caught.value.message.lower()
    assert "stand-in-secret" not in caught.value.message
    assert not all(check["ok"] for check in denied.check())


def test_invalid_instance_type_is_a_clear_permanent_error(backend):
    assert "ml.m5.large" in training_instance_types()  # from botocore's service model
    with pytest.raises(BackendError) as caught:
        backend.submit_training(spec(instance_type="ml.bogus.large"))
    assert caught.value.permanent is True
    assert "'ml.bogus.large' is not a SageMaker training instance type" in caught.value.message


def test_validation_errors_are_permanent(backend):
    with pytest.raises(BackendError) as caught:
        backend.poll_training("atr-does-not-exist")
    assert caught.value.permanent is True


def test_unreachable_aws_is_transient():
    offline = make_backend("http://127.0.0.1:9")
    with pytest.raises(BackendError) as caught:
        offline.poll_training("atr-x")
    assert caught.value.permanent is False


def test_register_approve_and_alias(backend):
    model = f"reg-{uuid.uuid4().hex[:8]}"
    first, _ = train(backend, spec(model_name=model))
    again = backend.poll_training(first.outputs["training_job"])  # a second poll registers nothing new
    assert again.model == first.model == ModelRef(model, "1")
    second, _ = train(backend, spec(model_name=model))
    versions = backend.list_model_versions(model)
    assert [v.version for v in versions] == ["1", "2"]
    assert versions[0].approval_status == "PendingManualApproval"
    assert versions[0].source_run_id == "r1"
    assert versions[0].metrics == {"validation:accuracy": 0.95}
    assert versions[0].artifact_uri.endswith("model.tar.gz")

    backend.set_approval_status(ModelRef(model, "1"), "Approved")
    backend.set_approval_status(ModelRef(model, "2"), "rejected")
    backend.set_alias(ModelRef(model, "1"), "champion")
    backend.set_alias(ModelRef(model, "2"), "champion")  # moves
    versions = {v.version: v for v in backend.list_model_versions(model)}
    assert versions["1"].approval_status == "Approved"
    assert versions["2"].approval_status == "Rejected"
    assert versions["1"].aliases == [] and versions["2"].aliases == ["champion"]
    assert versions["1"].source_run_id == "r1"  # metadata kept through the approval update
    with pytest.raises(BackendError) as caught:
        backend.set_approval_status(ModelRef(model, "1"), "maybe")
    assert caught.value.permanent
    with pytest.raises(BackendError):
        backend.set_alias(ModelRef(model, "9"), "champion")


CONSOLE = "https://us-east-1.console.aws.amazon.com/sagemaker/home?region=us-east-1#/"


def test_a_completed_tuning_reports_the_best_trials_model_metrics_and_pages(backend):
    model_name = f"tuned_{uuid.uuid4().hex[:6]}"
    search = TuningSpec(
        key=new_key(),
        model_name=model_name,
        dataset="iris",
        algorithm="random_forest",
        task="classification",
        search_space={"max_depth": {"type": "int", "low": 2, "high": 8}},
        max_trials=2,
        tags=TAGS,
    )
    tuning_job = backend.submit_tuning(search)
    status = wait_for_job(backend.poll_tuning, tuning_job, timeout=60)
    assert status.state is JobState.SUCCEEDED, status.message
    group = model_name.replace("_", "-")
    assert status.model == ModelRef(group, "1")
    assert [v.version for v in backend.list_model_versions(status.model.name)] == ["1"]
    best = backend.sm.describe_training_job(TrainingJobName=status.outputs["best_training_job"])
    assert status.metrics == {m["MetricName"]: float(m["Value"]) for m in best["FinalMetricDataList"]}
    assert status.metrics["validation:accuracy"] == status.outputs["best_score"]
    assert [link.url for link in status.links] == [
        f"{CONSOLE}hyper-tuning-jobs/{tuning_job}",
        f"{CONSOLE}jobs/{status.outputs['best_training_job']}",
        f"{CONSOLE}model-registry/{group}",
    ]
    assert status.outputs["tuning_job"] == tuning_job and status.outputs["trials"] == 2
    assert not {"model_name", "model_group", "model_version", "metrics"} & set(status.outputs)


def test_a_completed_batch_transform_reports_its_output_and_page(backend, stand_in):
    model = trained_model(backend, versions=1)
    job = backend.submit_batch(BatchSpec(key=new_key(), model=ModelRef(model, "1"), dataset="iris", tags=TAGS))
    status = wait_for_job(backend.poll_batch, job, timeout=30)
    assert status.state is JobState.SUCCEEDED, status.message
    assert status.model is None and status.metrics == {}
    assert [(link.label, link.url) for link in status.links] == [
        ("SageMaker batch transform job", f"{CONSOLE}transform-jobs/{job}")
    ]
    assert status.outputs["output"] == f"s3://atrium-artifacts/runs/batch/{job}/output"
    rows = boto3.client(
        "s3", endpoint_url=stand_in.url, region_name="us-east-1", aws_access_key_id="AKIAX", aws_secret_access_key="x"
    ).get_object(Bucket="atrium-artifacts", Key=f"runs/batch/{job}/input.csv")["Body"]
    assert len(rows.read().decode().splitlines()) == 150  # the built-in dataset's rows, put there to be scored
    described = sm_client(stand_in.url).describe_transform_job(TransformJobName=job)
    assert described["ModelName"] == f"{model}-v1"


def trained_model(backend, versions=2):
    model = f"ep-{uuid.uuid4().hex[:8]}"
    for _ in range(versions):
        train(backend, spec(model_name=model))
    return model


def test_endpoint_blue_green_traffic_invoke_rollback_delete(backend, stand_in):
    model = trained_model(backend)
    name = f"ep-{uuid.uuid4().hex[:8]}"
    blue = EndpointVariant("blue", ModelRef(model, "1"), "ml.m5.large")
    assert backend.deploy_endpoint(EndpointSpec(name, [blue], tags=TAGS)) == name
    status, seen = settle(backend, name)
    assert seen[0] == "creating" and status.weights == {"blue": 100}

    green = EndpointVariant("green", ModelRef(model, "2"), "ml.g4dn.xlarge", weight=0)
    update = EndpointSpec(name, [EndpointVariant("blue", ModelRef(model, "1"), "ml.m5.large"), green], rollout="canary")
    backend.deploy_endpoint(update)
    with pytest.raises(BackendError) as caught:  # a redelivered submit while updating waits
        backend.deploy_endpoint(update)
    assert caught.value.permanent is False
    status, seen = settle(backend, name)
    assert seen[0] == "updating" and status.weights == {"blue": 100, "green": 0}
    described = sm_client(stand_in.url).describe_endpoint(EndpointName=name)
    routing = described["LastDeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing["Type"] == "CANARY" and routing["CanarySize"] == {"Type": "CAPACITY_PERCENT", "Value": 10}

    backend.update_traffic(name, {"blue": 90, "green": 10})
    with pytest.raises(NotReady):  # AWS refuses a change mid-update: the run asks again at its polling pace
        backend.update_traffic(name, {"blue": 80, "green": 20})
    assert settle(backend, name)[0].weights == {"blue": 90, "green": 10}

    backend.rollback_endpoint(name)
    assert settle(backend, name)[0].weights == {"blue": 100, "green": 0}
    backend.rollback_endpoint(name)  # the config change before it
    status, _ = settle(backend, name)
    assert status.weights == {"blue": 100}
    with pytest.raises(BackendError) as caught:
        backend.rollback_endpoint(name)
    assert caught.value.permanent and "Nothing to roll back" in caught.value.message

    backend.delete_endpoint(name)
    backend.delete_endpoint(name)  # idempotent
    with pytest.raises(BackendError) as caught:
        backend.get_endpoint(name)
    assert caught.value.permanent


def test_unknown_variant_in_traffic_is_permanent(backend):
    model = trained_model(backend, versions=1)
    name = f"ep-{uuid.uuid4().hex[:8]}"
    backend.deploy_endpoint(EndpointSpec(name, [EndpointVariant("a", ModelRef(model, "1"), "ml.m5.large")]))
    settle(backend, name)
    with pytest.raises(BackendError) as caught:
        backend.update_traffic(name, {"a": 50, "zz": 50})
    assert caught.value.permanent and "zz" in caught.value.message


def test_alarms_go_into_the_auto_rollback_config(stand_in):
    alarmed = make_backend(stand_in.url, rollback_alarms=["atrium-5xx"])
    model = trained_model(alarmed)
    name = f"ep-{uuid.uuid4().hex[:8]}"
    alarmed.deploy_endpoint(EndpointSpec(name, [EndpointVariant("a", ModelRef(model, "1"), "ml.m5.large")]))
    settle(alarmed, name)
    alarmed.deploy_endpoint(
        EndpointSpec(name, [EndpointVariant("a", ModelRef(model, "2"), "ml.m5.large")], rollout="linear")
    )
    settle(alarmed, name)
    config = sm_client(stand_in.url).describe_endpoint(EndpointName=name)["LastDeploymentConfig"]
    assert config["AutoRollbackConfiguration"] == {"Alarms": [{"AlarmName": "atrium-5xx"}]}
    assert config["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"] == "LINEAR"


def test_invalid_endpoint_instance_type_is_permanent(backend):
    with pytest.raises(BackendError) as caught:
        backend.deploy_endpoint(EndpointSpec("ep-bad", [EndpointVariant("a", ModelRef("m", "1"), "ml.nope.large")]))
    assert caught.value.permanent and "endpoint instance type" in caught.value.message


def test_inf2_deploy_goes_through_a_neo_compilation_job(backend, stand_in):
    model = trained_model(backend, versions=1)
    name = f"inf2-{uuid.uuid4().hex[:8]}"
    endpoint = EndpointSpec(name, [EndpointVariant("neuron", ModelRef(model, "1"), "ml.inf2.xlarge")])
    with pytest.raises(BackendError) as caught:
        backend.deploy_endpoint(endpoint)
    assert caught.value.permanent is False and "Inferentia2" in caught.value.message
    assert backend.deploy_endpoint(endpoint) == name  # the submit retried after the compilation
    settle(backend, name)
    client = sm_client(stand_in.url)
    job = client.describe_compilation_job(CompilationJobName=f"{model}-v1-inf2")
    assert job["OutputConfig"]["TargetDevice"] == "ml_inf2"
    config = client.describe_endpoint_config(
        EndpointConfigName=client.describe_endpoint(EndpointName=name)["EndpointConfigName"]
    )
    assert config["ProductionVariants"][0]["ModelName"] == f"{model}-v1-inf2"


def test_inf1_applies_the_portal_rollout_s_steps_and_shifts_nothing_itself(backend, stand_in):
    """No guardrails on inf1: each step of the portal's rollout (apps/deployments/rollouts.py) is
    applied as given (the candidate beside the baseline at 0%, the stages' weights, the candidate
    alone), and nothing moves the traffic on its own between them."""
    model = trained_model(backend, versions=3)
    name = f"inf1-{uuid.uuid4().hex[:8]}"
    old = EndpointVariant("old", ModelRef(model, "1"), "ml.inf1.xlarge")
    backend.deploy_endpoint(EndpointSpec(name, [old]))
    settle(backend, name)
    new = EndpointVariant("new", ModelRef(model, "2"), "ml.inf1.xlarge", weight=0)
    backend.deploy_endpoint(EndpointSpec(name, [old, new]))
    status, seen = settle(backend, name)
    assert seen[0] == "updating" and status.weights == {"old": 100, "new": 0}
    assert not sm_client(stand_in.url).describe_endpoint(EndpointName=name).get("LastDeploymentConfig")

    backend.update_traffic(name, {"old": 75, "new": 25})
    settle(backend, name)
    assert [backend.get_endpoint(name).weights for _ in range(3)] == [{"old": 75, "new": 25}] * 3

    backend.deploy_endpoint(EndpointSpec(name, [EndpointVariant("new", ModelRef(model, "2"), "ml.inf1.xlarge")]))
    assert settle(backend, name)[0].weights == {"new": 100}
    with pytest.raises(BackendError) as caught:  # a shift of its own would fight the portal's stages
        backend.deploy_endpoint(
            EndpointSpec(name, [EndpointVariant("v3", ModelRef(model, "3"), "ml.inf1.xlarge")], rollout="canary")
        )
    assert caught.value.permanent and "no deployment guardrails for ml.inf1" in caught.value.message


def test_provision_a_stack_then_teardown(backend):
    key = new_key()
    resource = ResourceSpec(key=key, kind="workspace", parameters={"name": "team-alpha"}, tags=TAGS)
    assert backend.provision(resource) == key
    assert backend.provision(resource) == key  # idempotent
    status = backend.poll_provision(key)
    assert status.state is JobState.SUCCEEDED
    assert status.outputs["RoleArn"].endswith(":role/atrium-team-alpha-sagemaker")
    assert "atrium/team-alpha" in status.outputs["RepositoryUri"]
    backend.teardown(key)
    assert backend.stack_status(key) == "DELETE_COMPLETE"
    with pytest.raises(BackendError) as caught:
        backend.provision(ResourceSpec(key=new_key(), kind="spaceship"))
    assert caught.value.permanent


def test_costs_grouped_by_tags(backend, stand_in):
    def group(team, project, amount):
        return {
            "Keys": [f"team${team}", f"project${project}"],
            "Metrics": {"UnblendedCost": {"Amount": amount, "Unit": "USD"}},
        }

    seed_costs(
        stand_in.url,
        [
            {
                "ResultsByTime": [
                    {
                        "TimePeriod": {"Start": "2026-11-01", "End": "2026-11-02"},
                        "Total": {},
                        "Groups": [group("alpha", "churn", "12.5"), group("beta", "fraud", "3.25")],
                        "Estimated": False,
                    },
                    {
                        "TimePeriod": {"Start": "2026-11-02", "End": "2026-11-03"},
                        "Total": {},
                        "Groups": [group("alpha", "churn", "7")],
                        "Estimated": True,
                    },
                ]
            }
        ],
    )
    records = backend.get_costs(start=date(2026, 11, 1), end=date(2026, 11, 2))
    assert [(r.day, r.amount, r.tags) for r in records] == [
        (date(2026, 11, 1), 12.5, {"team": "alpha", "project": "churn"}),
        (date(2026, 11, 1), 3.25, {"team": "beta", "project": "fraud"}),
        (date(2026, 11, 2), 7.0, {"team": "alpha", "project": "churn"}),
    ]
    assert records[0].currency == "USD"


def test_price_table_is_documented_and_overridable(backend, tmp_path):
    assert backend.price_per_hour("ml.m5.large") > 0
    table = tmp_path / "prices.json"
    table.write_text('{"training": {"ml.m5.large": 1.5}}')
    assert make_backend("http://unused", price_table_path=str(table)).price_per_hour("ml.m5.large") == 1.5


def test_role_is_assumed_when_configured(stand_in):
    assumed = make_backend(stand_in.url, role_arn="arn:aws:iam::123456789012:role/atrium-portal")
    assert all(check["ok"] for check in assumed.check())
