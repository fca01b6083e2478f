"""Workspace provisioning on Databricks (Unity Catalog schema, workspace
folder, MLflow experiment) against the in-repo stand-in, over real HTTP through
databricks-sdk."""

from __future__ import annotations

import socket

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk import errors as dberrors
from databricks.sdk.service import workspace

from apps.backends.base import BackendError, JobState, ResourceSpec
from apps.backends.databricks.backend import DatabricksBackend
from apps.backends.databricks.provisioning import KEY_TAG
from apps.backends.sandbox.databricks import DatabricksStandIn

TOKEN = "dapi-test-token"
TAGS = {"team": "alpha", "run": "42", "project": "default"}
CREATING = ("/schemas", "/workspace/mkdirs", "/experiments/create")
OBJECTS = ("schemas", "folders", "experiments")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def standin():
    with DatabricksStandIn(token=TOKEN) as server:
        yield server


def make_backend(url: str) -> DatabricksBackend:
    return DatabricksBackend(host=url, token=TOKEN, catalog="atrium", retry_timeout_seconds=2)


@pytest.fixture
def backend(standin):
    standin.throttle(0)
    return make_backend(standin.url)


def sdk(url: str) -> WorkspaceClient:
    return WorkspaceClient(host=url, token=TOKEN, auth_type="pat")


def workspace_spec(key: str, name: str, **overrides) -> ResourceSpec:
    return ResourceSpec(**{"key": key, "kind": "workspace", "parameters": {"name": name}, "tags": TAGS, **overrides})


def created(standin, since: int) -> list[tuple[str, str]]:
    return [(m, p) for m, p in standin.requests[since:] if m == "POST" and p.endswith(CREATING)]


def test_provision_poll_reprovision_teardown(standin, backend):
    before = len(standin.requests)
    resource_id = backend.provision(workspace_spec("atr-prov-1", "Team-A"))
    assert resource_id == "workspace:team-a"
    assert len(created(standin, before)) == 3

    status = backend.poll_provision(resource_id)
    assert status.state is JobState.SUCCEEDED
    assert status.outputs["schema"] == "atrium.team-a"
    assert status.outputs["folder"] == "/Workspace/Shared/atrium/team-a"
    experiment_id = status.outputs["experiment_id"]
    links = {link.label: link.url for link in status.links}
    assert links["Unity Catalog schema"] == f"{standin.url}/explore/data/atrium/team-a"
    assert links["MLflow experiment"] == f"{standin.url}/ml/experiments/{experiment_id}"
    assert links["Workspace folder"].startswith(f"{standin.url}/browse/folders/")

    # the three objects, read through the SDK as anyone would
    w = sdk(standin.url)
    schema = w.schemas.get("atrium.team-a")
    assert schema.properties == {**TAGS, "atrium_resource": "workspace", KEY_TAG: "atr-prov-1"}
    assert w.workspace.get_status("/Workspace/Shared/atrium/team-a").object_type == workspace.ObjectType.DIRECTORY
    experiment = w.experiments.get_experiment(experiment_id).experiment
    assert experiment.name == "/Shared/atrium/team-a/experiment"
    assert experiment.lifecycle_stage == "active"
    assert {t.key: t.value for t in experiment.tags}[KEY_TAG] == "atr-prov-1"
    assert {t.key: t.value for t in experiment.tags}["team"] == "alpha"

    # a redelivered provision finds its own objects and creates nothing new
    counts = {k: len(standin.state[k]) for k in OBJECTS}
    again = backend.provision(workspace_spec("atr-prov-1", "team-a"))
    assert again == resource_id
    assert {k: len(standin.state[k]) for k in OBJECTS} == counts
    assert backend.poll_provision(resource_id).outputs["experiment_id"] == experiment_id

    backend.teardown(resource_id)
    with pytest.raises(dberrors.NotFound):
        w.schemas.get("atrium.team-a")
    with pytest.raises(dberrors.NotFound):
        w.workspace.get_status("/Workspace/Shared/atrium/team-a")
    assert w.experiments.get_experiment(experiment_id).experiment.lifecycle_stage == "deleted"
    with pytest.raises(dberrors.NotFound):
        w.experiments.get_by_name("/Shared/atrium/team-a/experiment")

    backend.teardown(resource_id)  # already gone: fine
    with pytest.raises(BackendError) as caught:
        backend.poll_provision(resource_id)
    assert caught.value.permanent

    # the name is free again
    assert backend.provision(workspace_spec("atr-prov-2", "team-a")) == resource_id
    assert backend.poll_provision(resource_id).outputs["experiment_id"] != experiment_id
    backend.teardown(resource_id)


def test_partial_workspace_is_running_and_completed_by_a_retry(standin, backend):
    """A provision interrupted after the schema: poll says RUNNING, a retry finishes it."""
    sdk(standin.url).schemas.create(
        name="half", catalog_name="atrium", properties={KEY_TAG: "atr-half", "atrium_resource": "workspace"}
    )
    status = backend.poll_provision("workspace:half")
    assert status.state is JobState.RUNNING
    assert "folder" in status.message and "experiment" in status.message

    assert backend.provision(workspace_spec("atr-half", "half")) == "workspace:half"
    assert backend.poll_provision("workspace:half").state is JobState.SUCCEEDED
    backend.teardown("workspace:half")


def test_objects_of_another_resource_are_never_adopted(standin, backend):
    resource_id = backend.provision(workspace_spec("atr-owner-1", "shared-name"))
    with pytest.raises(BackendError) as caught:
        backend.provision(workspace_spec("atr-owner-2", "shared-name"))
    assert caught.value.permanent
    assert "Schema atrium.shared-name already exists" in caught.value.message
    backend.teardown(resource_id)

    sdk(standin.url).schemas.create(name="foreign", catalog_name="atrium")  # not Atrium's
    with pytest.raises(BackendError) as caught:
        backend.provision(workspace_spec("atr-foreign", "foreign"))
    assert caught.value.permanent and "nothing Atrium made" in caught.value.message
    with pytest.raises(BackendError) as caught:
        backend.teardown("workspace:foreign")
    assert caught.value.permanent and "not made by Atrium" in caught.value.message
    assert sdk(standin.url).schemas.get("atrium.foreign").name == "foreign"  # left alone


def test_unknown_kind_and_bad_ids_are_permanent(backend):
    with pytest.raises(BackendError) as caught:
        backend.provision(ResourceSpec(key="atr-bucket", kind="bucket", parameters={"name": "b"}))
    assert caught.value.permanent
    assert "'bucket'" in caught.value.message and "supported: workspace" in caught.value.message

    with pytest.raises(BackendError) as caught:
        backend.provision(workspace_spec("atr-bad-name", "no/slashes"))
    assert caught.value.permanent

    for bad in ("", "cluster:x", "workspace:", "workspace:a/b"):
        with pytest.raises(BackendError) as caught:
            backend.poll_provision(bad)
        assert caught.value.permanent, bad
        with pytest.raises(BackendError) as caught:
            backend.teardown(bad)
        assert caught.value.permanent, bad

    with pytest.raises(BackendError) as caught:  # well-formed, never provisioned
        backend.poll_provision("workspace:never-made")
    assert caught.value.permanent and "none of its" in caught.value.message
    backend.teardown("workspace:never-made")  # nothing to do


def test_stand_in_restart_keeps_the_workspace(tmp_path):
    state, port = tmp_path / "standin.json", free_port()
    with DatabricksStandIn(token=TOKEN, port=port, state_path=state) as first:
        backend = make_backend(first.url)
        resource_id = backend.provision(workspace_spec("atr-restart-ws", "durable"))
        outputs = backend.poll_provision(resource_id).outputs

    with DatabricksStandIn(token=TOKEN, port=port, state_path=state) as second:
        status = backend.poll_provision(resource_id)
        assert status.state is JobState.SUCCEEDED and status.outputs == outputs
        counts = {k: len(second.state[k]) for k in OBJECTS}
        assert backend.provision(workspace_spec("atr-restart-ws", "durable")) == resource_id
        assert {k: len(second.state[k]) for k in counts} == counts
        backend.teardown(resource_id)

    with DatabricksStandIn(token=TOKEN, port=port, state_path=state), pytest.raises(BackendError):
        backend.poll_provision(resource_id)  # the teardown was kept too
