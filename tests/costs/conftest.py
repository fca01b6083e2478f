"""Fixtures of the costs tests. The stand-ins are the backend contract suite's
(one per session, on free ports): moto's server for Cost Explorer, the in-repo
Databricks stand-in for billable usage."""

import pytest

from tests.contract.conftest import (  # noqa: F401 - fixtures
    DATABRICKS_ACCOUNT,
    DATABRICKS_TOKEN,
    SAGEMAKER_KEY,
    SAGEMAKER_SECRET,
    aws_stand_in,
    databricks_stand_in,
)


@pytest.fixture
def databricks_connection(databricks_stand_in, make_user, team):  # noqa: F811 - the imported fixture
    """A Databricks connection of the team's on the session's stand-in (not throttled); more
    configuration by keyword."""
    from apps.accounts.models import Role
    from apps.connections.services import connection_create

    def make(name: str, **config):
        databricks_stand_in.throttle(0)
        return connection_create(
            user=make_user(f"{name}-admin", role=Role.ADMIN),
            name=name,
            kind="databricks",
            config={
                "host": databricks_stand_in.url,
                "catalog": "atrium",
                "schema": "costs",
                "account_id": DATABRICKS_ACCOUNT,
                "dbu_price": "0.5",
                **config,
            },
            secrets={"token": DATABRICKS_TOKEN},
            teams=[team],
        )

    return make


@pytest.fixture
def manager(make_user):
    from apps.accounts.models import Role

    return make_user("alpha-manager", role=Role.MANAGER)


@pytest.fixture
def manager_client(client, manager):
    client.force_login(manager)
    return client


@pytest.fixture
def manager_api(manager):
    from rest_framework.test import APIClient

    from apps.accounts.services import api_token_create

    _, key = api_token_create(user=manager)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api


@pytest.fixture
def admin_user(make_user):
    from apps.accounts.models import Role

    return make_user("root", role=Role.ADMIN, teams=[])
