""" "Test connection" against the stand-ins over real HTTP."""

import pytest

from apps.backends.sandbox.aws import AwsStandIn
from apps.backends.sandbox.databricks import DatabricksStandIn
from apps.connections.services import connection_create

pytestmark = pytest.mark.django_db

TOKEN = "dapi-check-0123456789abcdef"


@pytest.fixture(scope="module")
def databricks():
    with DatabricksStandIn(token=TOKEN, denied_token="dapi-denied-42") as stand_in:
        yield stand_in


@pytest.fixture(scope="module")
def aws():
    stand_in = AwsStandIn()
    url = stand_in.start()
    yield url
    stand_in.stop()


def create_databricks(admin, url, token):
    return connection_create(
        user=admin,
        name=f"dbx-{token[-4:]}",
        kind="databricks",
        config={"host": url},
        secrets={"token": token},
        teams=[],
    )


def test_a_working_databricks_connection_reports_ok(client, admin, databricks):
    connection = create_databricks(admin, databricks.url, TOKEN)
    client.force_login(admin)
    response = client.post(f"/connections/{connection.pk}/test/", follow=True)
    connection.refresh_from_db()
    assert connection.last_test_ok is True
    page = response.content.decode()
    assert 'data-testid="test-report"' in page and TOKEN not in page


def test_denied_credentials_report_what_fails_without_the_secret(client, admin, databricks):
    connection = create_databricks(admin, databricks.url, "dapi-denied-42")
    client.force_login(admin)
    client.post(f"/connections/{connection.pk}/test/")
    connection.refresh_from_db()
    assert connection.last_test_ok is False
    failures = [item for item in connection.last_test_report if not item["ok"]]
    assert failures and all("denied" in item["message"].lower() for item in failures)
    assert "dapi-denied-42" not in str(connection.last_test_report)


def test_sagemaker_connection_check_lists_each_service(client, admin, aws):
    secret = "sandbox-secret-key-9876"
    connection = connection_create(
        user=admin,
        name="aws",
        kind="sagemaker",
        config={
            "region": "us-east-1",
            "endpoint_url": aws,
            "execution_role_arn": "arn:aws:iam::123456789012:role/r",
            "output_s3_uri": "s3://bucket/out",
        },
        secrets={"access_key_id": "AKIAEXAMPLE0001", "secret_access_key": secret},
        teams=[],
    )
    client.force_login(admin)
    client.post(f"/connections/{connection.pk}/test/")
    connection.refresh_from_db()
    assert {item["check"] for item in connection.last_test_report} >= {"credentials", "sagemaker"}
    assert connection.last_test_ok is True
    denied = connection_create(
        user=admin,
        name="aws-denied",
        kind="sagemaker",
        config={**connection.config},
        secrets={"access_key_id": "AKIADENIED000001", "secret_access_key": secret},
        teams=[],
    )
    client.post(f"/connections/{denied.pk}/test/")
    denied.refresh_from_db()
    assert denied.last_test_ok is False
    assert secret not in str(denied.last_test_report)
