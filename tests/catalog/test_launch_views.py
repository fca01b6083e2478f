"""Launching from the portal: the generated form, the review page (a dry-run
that creates nothing), launch, and re-run with the previous inputs."""

import json
import re

import pytest

from apps.runs.models import Run, RunStep

pytestmark = pytest.mark.django_db

CLASSIFIER = {"p-model_name": "iris-rf", "p-dataset": "wine", "p-algorithm": "random_forest", "p-n_estimators": "25"}


def review(client, team, **fields):
    return client.post(
        "/catalog/tabular-classifier/launch/", {"action": "review", "team": team.pk, **CLASSIFIER, **fields}
    )


def test_form_is_generated_from_the_schema(ds_client, shipped_catalog):
    page = ds_client.get("/catalog/tabular-classifier/launch/").content.decode()
    assert 'name="p-model_name"' in page and 'pattern="^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"' in page
    assert '<option value="random_forest" selected>Random forest</option>' in page
    assert 'name="p-n_estimators" value="100"' in page  # the default
    assert "/static/js/schema_form.js" in page


def test_review_is_a_dry_run_that_creates_nothing(ds_client, shipped_catalog, team):
    before = (Run.objects.count(), RunStep.objects.count())
    response = review(ds_client, team)
    page = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="dry-run"' in page and page.count('data-testid="planned-step"') == 1
    assert "&quot;n_estimators&quot;: 25" in page  # the resolved step input, in the raw JSON
    params = re.search(r'data-testid="review-params">(.*?)</table>', page, re.S).group(1)
    assert '<th scope="row" title="n_estimators">N estimators</th>' in params and "{" not in params
    assert '<details class="raw"><summary>raw</summary>' in page
    assert (Run.objects.count(), RunStep.objects.count()) == before


def test_launch_from_the_review_creates_the_run(ds_client, shipped_catalog, team, django_capture_on_commit_callbacks):
    page = review(ds_client, team).content.decode()
    params_json = re.search(r'name="params_json" value="([^"]*)"', page).group(1).replace("&quot;", '"')
    with django_capture_on_commit_callbacks():
        response = ds_client.post(
            "/catalog/tabular-classifier/launch/",
            {"action": "launch", "team": team.pk, "connection": "", "name": "", "params_json": params_json},
        )
    run = Run.objects.get()
    assert response.status_code == 302 and response.url == run.get_absolute_url()
    assert run.params == {"model_name": "iris-rf", "dataset": "wine", "algorithm": "random_forest", "n_estimators": 25}
    assert run.steps.get().params == {}  # resolved when the step starts
    assert run.template_version == shipped_catalog["tabular-classifier"].current_version


def test_invalid_input_shows_errors_beside_fields_and_creates_nothing(ds_client, shipped_catalog, team):
    response = review(ds_client, team, **{"p-model_name": "bad name", "p-n_estimators": "9000"})
    page = response.content.decode()
    assert response.status_code == 400
    assert 'id="f-p-model_name-errors">Use letters or digits first, then letters, digits' in page
    assert "Must match" not in page  # words, never a regular expression
    assert 'id="f-p-n_estimators-errors">Must be at most 500.' in page
    assert 'value="bad name"' in page  # what was typed stays
    assert not Run.objects.exists()


def test_a_tampered_launch_is_checked_again(ds_client, shipped_catalog, team):
    bad = json.dumps({"model_name": "x", "dataset": "mnist", "algorithm": "random_forest"})
    response = ds_client.post(
        "/catalog/tabular-classifier/launch/", {"action": "launch", "team": team.pk, "params_json": bad}
    )
    assert response.status_code == 400 and "Choose one of" in response.content.decode()
    assert not Run.objects.exists()


def test_back_to_the_form_keeps_the_inputs(ds_client, shipped_catalog, team):
    params = {"model_name": "kept", "dataset": "digits", "algorithm": "random_forest", "n_estimators": 7}
    page = ds_client.post(
        "/catalog/tabular-classifier/launch/", {"action": "edit", "team": team.pk, "params_json": json.dumps(params)}
    ).content.decode()
    assert 'value="kept"' in page and 'name="p-dataset" value="digits"' in page and 'value="7"' in page
    # the built-in datasets are suggestions of a free input: a .csv/.parquet path is taken too
    assert 'list="f-p-dataset-suggestions"' in page and '<option value="wine">wine</option>' in page


def test_rerun_prefills_the_previous_inputs(ds_client, shipped_catalog, ds):
    from apps.catalog.services import template_launch

    run = template_launch(
        user=ds,
        template=shipped_catalog["tabular-classifier"],
        params={"model_name": "again", "dataset": "breast_cancer", "algorithm": "logistic_regression", "C": 0.5},
    )
    page = ds_client.get(f"/catalog/tabular-classifier/launch/?rerun={run.pk}").content.decode()
    assert "Inputs pre-filled from run" in page
    assert 'value="again"' in page and 'name="p-dataset" value="breast_cancer"' in page
    assert '<option value="logistic_regression" selected>' in page and 'name="p-C" value="0.5"' in page


def test_rerun_of_another_teams_run_is_404(client, shipped_catalog, make_user, other_team, ds):
    from apps.catalog.services import template_launch

    run = template_launch(user=ds, template=shipped_catalog["workspace"], params={"name": "secret-ws"})
    client.force_login(make_user("outsider", teams=[other_team]))
    assert client.get(f"/catalog/workspace/launch/?rerun={run.pk}").status_code == 404


def test_script_in_inputs_is_escaped_on_the_review_page(ds_client, shipped_catalog, team):
    response = review(ds_client, team, **{"p-instance_type": "<script>alert(1)</script>"})
    page = response.content.decode()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_connection_the_template_does_not_support_is_refused(client, make_template, make_user, team):
    from apps.accounts.models import Role
    from apps.connections.services import connection_create

    make_template()
    admin = make_user("root", role=Role.ADMIN)
    connection = connection_create(
        user=admin,
        name="aws",
        kind="sagemaker",
        config={
            "region": "us-east-1",
            "execution_role_arn": "arn:aws:iam::123456789012:role/x",
            "output_s3_uri": "s3://bucket/out",
        },
        secrets={},
        teams=[team],
    )
    client.force_login(admin)
    response = client.post(
        "/catalog/mini/launch/",
        {"action": "review", "team": team.pk, "connection": connection.pk, "p-model_name": "abc"},
    )
    assert response.status_code == 400 and "runs on local only" in response.content.decode()
