"""HTML forms never answer 500 on JSON typed or tampered into them, nor on a
bad query string (issue 15, items 2-3)."""

import pytest

from apps.core.parsers import JSONTooDeep, depth_of, parse_json
from apps.runs.models import Run

pytestmark = pytest.mark.django_db


def bomb(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_parse_json_bounds_the_depth():
    assert parse_json(bomb(64)) == parse_json(bomb(64))
    assert depth_of(parse_json('{"a": [1, {"b": []}]}')) == 4
    with pytest.raises(JSONTooDeep, match="nested too deeply"):
        parse_json(bomb(65))
    with pytest.raises(ValueError, match="nested too deeply"):  # a RecursionError inside json, too
        parse_json(bomb(100_000))
    assert parse_json("[]", max_depth=1) == []


@pytest.mark.parametrize("action", ["launch", "edit"])
def test_a_depth_bomb_in_params_json_is_no_server_error(ds_client, mini, team, action):
    ds_client.raise_request_exception = False
    response = ds_client.post(
        "/catalog/mini/launch/", {"action": action, "team": team.pk, "params_json": '{"a": ' + bomb(5000) + "}"}
    )
    assert response.status_code in (200, 400)
    assert not Run.objects.exists()


@pytest.mark.parametrize("rerun", ["not-a-uuid", "1", "' OR 1=1 --"])
def test_rerun_of_something_that_is_not_a_run_id_is_404(ds_client, mini, rerun):
    ds_client.raise_request_exception = False
    assert ds_client.get("/catalog/mini/launch/", {"rerun": rerun}).status_code == 404
