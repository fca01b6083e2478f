"""The OpenAPI schema says what the API answers (issue 15, item 9)."""

import pytest
import yaml
from django.core.management import call_command

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema(django_db_blocker, tmp_path_factory):
    path = tmp_path_factory.mktemp("schema") / "schema.yml"
    with django_db_blocker.unblock():
        # --fail-on-warn: any drf-spectacular warning (an enum name collision, a guessed type) fails here
        call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path))
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("component", ["Run", "RegisteredModel"])
def test_a_connection_that_may_be_null_is_nullable_in_the_schema(schema, component):
    connection = schema["components"]["schemas"][component]["properties"]["connection"]
    assert connection["type"] == "string" and connection["nullable"] is True
