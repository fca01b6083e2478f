"""What an endpoint runs on and costs, on the page and in the API; endpoints
found outside the portal in the list (constant queries) and behind the same
permissions."""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.accounts.models import Role
from apps.deployments.models import Endpoint, EndpointState, Variant
from apps.runs.models import Run
from tests.deployments.test_endpoint_pages_and_api import api_as, make_endpoint

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(make_user):
    return make_user(f"admin-{uuid.uuid4().hex[:6]}", role=Role.ADMIN)


def make_connection(admin, team, kind="sagemaker"):
    """A connection row; nothing here calls its cloud (prices come from the backend's own table)."""
    from apps.connections.services import connection_create

    config = (
        {
            "region": "us-east-1",
            "execution_role_arn": "arn:aws:iam::123456789012:role/r",
            "output_s3_uri": "s3://atrium-artifacts/x",
        }
        if kind == "sagemaker"
        else {"host": "http://127.0.0.1:9"}
    )
    secrets = {"access_key_id": "AKIAEXAMPLE", "secret_access_key": "x"} if kind == "sagemaker" else {"token": "t"}
    return connection_create(
        user=admin, name=f"{kind}-{uuid.uuid4().hex[:6]}", kind=kind, config=config, secrets=secrets, teams=[team]
    )


def found_endpoint(team, conn, name, variants=(("a", "ml.m5.large", 1),), weights=None):
    endpoint = Endpoint.objects.create(
        team=team,
        backend=conn.kind,
        connection=conn,
        source=f"connection:{conn.pk}",
        name=name,
        state=EndpointState.IN_SERVICE,
        discovered=True,
        weights=weights or {v[0]: 100 // len(variants) for v in variants},
    )
    for variant, instance_type, count in variants:
        Variant.objects.create(
            endpoint=endpoint,
            name=variant,
            model_name="churn",
            model_version="3",
            instance_type=instance_type,
            instance_count=count,
        )
    return endpoint


# --- hardware and prices ----------------------------------------------------------------


def test_the_page_and_the_api_show_each_variants_hardware_and_price(ds_client, api, admin, team):
    aws = make_connection(admin, team)
    endpoint = found_endpoint(
        team,
        aws,
        "priced",
        variants=(("big", "ml.m5.large", 2), ("odd", "ml.c6i.large", 1)),
        weights={"big": 90, "odd": 10},
    )
    Variant.objects.create(endpoint=endpoint, name="gpu", model_name="churn", model_version="4", target="gpu")

    page = ds_client.get(f"/deployments/{endpoint.pk}/").content.decode()
    rows = {name: page.split(f'data-variant="{name}"', 1)[1].split("</tr>", 1)[0] for name in ("big", "odd", "gpu")}
    assert "ml.m5.large" in rows["big"] and "$0.230 / hour" in rows["big"] and "$167.90 / month" in rows["big"]
    assert "2 × $0.115 an instance-hour" in rows["big"]
    assert "price unknown" in rows["odd"] and "$" not in rows["odd"]  # not in the price table: no figure
    assert "ml.g5.xlarge" in rows["gpu"] and "(GPU)" in rows["gpu"] and "$1.408 / hour" in rows["gpu"]

    detail = api.get(f"/api/v1/endpoints/{endpoint.pk}/").json()
    hardware = {v["name"]: v["hardware"] for v in detail["variants"]}
    assert hardware["big"] == {
        "instance_type": "ml.m5.large",
        "instance_count": 2,
        "price_known": True,
        "currency": "USD",
        "price_per_instance_hour": 0.115,
        "price_per_hour": 0.23,
        "price_per_month": 167.9,
        "hours_per_month": 730,
        "price_source": "the backend's prices.json (us-east-1 list prices)",
        "price": "$0.230 / hour, $167.90 / month",
    }
    assert hardware["odd"]["price_known"] is False and hardware["odd"]["price_per_hour"] is None
    assert hardware["odd"]["price"] == "price unknown" and hardware["odd"]["instance_type"] == "ml.c6i.large"
    assert detail["discovered"] is True


def test_a_backend_without_a_price_table_says_price_unknown_and_local_compute_says_no_charge(ds_client, admin, team):
    databricks = found_endpoint(team, make_connection(admin, team, "databricks"), "served", (("a", "GPU_SMALL", 4),))
    page = ds_client.get(f"/deployments/{databricks.pk}/").content.decode()
    assert "GPU_SMALL" in page and "price unknown" in page

    local = make_endpoint(team, "local-one")  # a cpu target: the local backend's local-cpu
    page = ds_client.get(f"/deployments/{local.pk}/").content.decode()
    row = page.split('data-variant="a"', 1)[1].split("</tr>", 1)[0]
    assert "local-cpu" in row and "no charge" in row and "CPU-hour rate" in row and "$" not in row


# --- found endpoints: the list, permissions ----------------------------------------------


def test_the_list_with_found_endpoints_takes_constant_queries(ds_client, admin, team):
    aws = make_connection(admin, team)
    databricks = make_connection(admin, team, "databricks")

    def queries():
        with CaptureQueriesContext(connection) as captured:
            page = ds_client.get("/deployments/")
        assert page.status_code == 200
        return len(captured.captured_queries), page.content.decode()

    found_endpoint(team, aws, "found-0")
    few, _ = queries()
    for index in range(1, 8):
        conn = aws if index % 2 else databricks
        found_endpoint(team, conn, f"found-{index}", variants=(("a", "ml.m5.large", 1), ("b", "ml.g5.xlarge", 2)))
        make_endpoint(team, f"ours-{index}")
    many, html = queries()
    assert few == many
    assert "found-7" in html and "ours-7" in html
    assert html.count("not deployed by Atrium") == 8


def test_a_found_endpoint_is_its_teams_and_readers_only_read_it(
    client, ds_client, api, make_user, admin, team, other_team
):
    theirs = found_endpoint(other_team, make_connection(admin, other_team), "theirs")
    assert ds_client.get(f"/deployments/{theirs.pk}/").status_code == 404
    assert ds_client.get(f"/deployments/{theirs.pk}/live/").status_code == 404
    assert api.get(f"/api/v1/endpoints/{theirs.pk}/").status_code == 404
    assert api.delete(f"/api/v1/endpoints/{theirs.pk}/").status_code == 404
    assert "theirs" not in ds_client.get("/deployments/").content.decode()

    ours = found_endpoint(
        team, make_connection(admin, team), "ours", variants=(("a", "ml.m5.large", 1), ("b", "ml.m5.large", 1))
    )
    for role in (Role.MANAGER, Role.APPROVER):
        reader = make_user(f"reader-{role}", role=role)
        client.force_login(reader)
        page = client.get(f"/deployments/{ours.pk}/").content.decode()
        assert "Found on" in page and "$0.115 / hour" in page
        assert "Delete endpoint" not in page and "Shift traffic" not in page and "Deploy another version" not in page
        reader_api = api_as(reader)
        assert reader_api.get(f"/api/v1/endpoints/{ours.pk}/").json()["variants"][0]["hardware"]["price_known"]
        assert reader_api.delete(f"/api/v1/endpoints/{ours.pk}/").status_code == 403
        answer = reader_api.post(f"/api/v1/endpoints/{ours.pk}/traffic/", {"weights": {"a": 100}}, format="json")
        assert answer.status_code == 403
    assert not Run.objects.exists()


def test_a_found_endpoint_never_takes_the_address_of_the_portals_own(admin, team):
    from apps.deployments.selectors import endpoint_route

    ours = make_endpoint(team, "shared")
    found_endpoint(team, make_connection(admin, team), "shared")  # updated after ours
    assert endpoint_route(name="shared").endpoint_id == str(ours.pk)
