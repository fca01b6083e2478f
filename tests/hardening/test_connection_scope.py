"""One connection check everywhere (issue 15, item 6): POST /runs/, a
template's launch and its dry-run refuse another team's connection, with the
same message as for a name that does not exist (a 400 on ``connection``)."""

import pytest

from apps.runs.models import Run

pytestmark = pytest.mark.django_db

SAGEMAKER = {
    "region": "us-east-1",
    "execution_role_arn": "arn:aws:iam::123456789012:role/x",
    "output_s3_uri": "s3://bucket/out",
}


@pytest.fixture
def foreign(make_user, other_team):
    """A connection only the other team may use."""
    from apps.accounts.models import Role
    from apps.connections.services import connection_create

    admin = make_user("root", role=Role.ADMIN)
    return connection_create(
        user=admin, name="beta-aws", kind="sagemaker", config=SAGEMAKER, secrets={}, teams=[other_team]
    )


def _body(path: str, connection: str) -> dict:
    if path == "/api/v1/runs/":
        return {"kind": "train", "params": {"dataset": "iris"}, "connection": connection}
    return {"params": {"model_name": "abc"}, "connection": connection}


@pytest.mark.parametrize("path", ["/api/v1/runs/", "/api/v1/templates/mini/dry-run/", "/api/v1/templates/mini/launch/"])
def test_another_teams_connection_reads_like_an_unknown_one(api, mini, foreign, path):
    before = Run.objects.count()
    mine = api.post(path, _body(path, foreign.name), format="json")
    unknown = api.post(path, _body(path, "no-such-connection"), format="json")
    assert mine.status_code == unknown.status_code == 400
    assert set(mine.json()) == set(unknown.json()) == {"connection"}
    assert mine.json()["connection"] == unknown.json()["connection"]
    assert foreign.name not in str(mine.json()) and "no-such-connection" not in str(unknown.json())
    assert Run.objects.count() == before
