"""Masking from the model: a version tagged ``atrium.sensitive_columns`` (in
its own registry, mirrored by the registry sync) has those input columns
masked in every captured row, through the real gateway. The columns travel
with the cached route: the request path looks nothing up."""

import json

import pyarrow.dataset as ds_
import pytest

from apps.deployments.models import Endpoint, EndpointState, Variant
from apps.deployments.selectors import SENSITIVE_COLUMNS_TAG, endpoint_route
from apps.registry.models import ModelVersion, RegisteredModel
from apps.registry.sync import Source, model_sync

from .conftest import MODEL, key_for

pytestmark = pytest.mark.worker

RECORDS = {"dataframe_split": {"columns": ["x1", "x2"], "data": [[0.0, 0.1], [1.0, 1.0]]}}


def test_columns_a_model_version_tags_as_sensitive_are_masked_in_capture(
    served, endpoint, ds, make_gateway, settings, mlflow_server
):
    from mlflow import MlflowClient

    client = MlflowClient(mlflow_server)
    version = str(max(int(v.version) for v in client.search_model_versions(f"name='{MODEL}'")))
    client.set_model_version_tag(MODEL, version, SENSITIVE_COLUMNS_TAG, "x1, ssn")
    settings.MLFLOW_TRACKING_URI = mlflow_server
    model_sync(source=Source(kind="local"), name=MODEL)  # the portal's mirror learns the tag
    endpoint.variants.update(model_version=version)
    _, key = key_for(endpoint, ds)

    gateway = make_gateway()
    answers = [gateway.post("/serve/tiny/invocations", key, json=RECORDS) for _ in range(3)]
    assert [a.status_code for a in answers] == [200] * 3
    assert answers[0].json()["predictions"] == [0, 1]  # the model saw the real values
    gateway.stop()

    root = gateway.gateway.capture.root
    rows = ds_.dataset(str(root), format="parquet", partitioning="hive").to_table().to_pylist()
    assert len(rows) == 3
    assert {r["request"] for r in rows} == {'[{"x1":"***","x2":0.1},{"x1":"***","x2":1.0}]'}


def test_the_route_masks_what_any_served_version_marks_and_the_settings_add_to_it(db, team):
    endpoint = Endpoint.objects.create(team=team, backend="local", source="local", name="masked", state="in_service")
    model = RegisteredModel.objects.create(backend="local", source="local", name="people")
    for number, tag in ((1, "ssn"), (2, " email , ssn,")):
        ModelVersion.objects.create(model=model, version=str(number), number=number, tags={SENSITIVE_COLUMNS_TAG: tag})
        Variant.objects.create(endpoint=endpoint, name=f"v{number}", model_name="people", model_version=str(number))
    assert endpoint_route(name="masked").sensitive == {"ssn", "email"}

    # A version whose tag is gone, or a version the mirror does not know: nothing from it.
    ModelVersion.objects.filter(version="2").update(tags={})
    Variant.objects.filter(name="v1").update(model_version="9")
    assert endpoint_route(name="masked").sensitive == frozenset()
    Endpoint.objects.filter(pk=endpoint.pk).update(state=EndpointState.DELETED)
    assert endpoint_route(name="masked") is None


def test_the_writer_masks_the_routes_columns_and_the_settings_columns(tmp_path):
    from apps.gateway.app import sensitive_lookup
    from apps.gateway.capture import Captured, CaptureWriter

    writer = CaptureWriter(tmp_path, sensitive=sensitive_lookup(["ep:age"]))
    body = json.dumps({"dataframe_records": [{"ssn": "123", "age": 40, "city": "Oslo"}]}).encode()
    writer.offer(Captured("e1", 1.7e9, "ep", "a", 200, 1.0, body, b"[1]", frozenset({"ssn"})))
    writer.close()
    [row] = ds_.dataset(str(tmp_path), format="parquet", partitioning="hive").to_table().to_pylist()
    assert json.loads(row["request"]) == [{"ssn": "***", "age": "***", "city": "Oslo"}]
