import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.accounts.models import Role
from apps.runs.models import Run, RunEvent, RunStatus

pytestmark = pytest.mark.django_db


PAGES = ["/runs/", "/runs/new/", "/monitoring/", "/account/tokens/"]


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_visitors_are_sent_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302 and response.url.startswith("/login/")


def test_run_pages_of_another_team_answer_404(client, make_user, other_team, make_run):
    run = make_run()
    client.force_login(make_user("outsider", teams=[other_team]))
    assert client.get(f"/runs/{run.pk}/").status_code == 404
    assert client.post(f"/runs/{run.pk}/cancel/").status_code == 404
    run.refresh_from_db()
    assert run.status == RunStatus.PENDING


def test_manager_cannot_open_the_training_form_or_cancel(client, make_user, make_run):
    run = make_run(RunStatus.RUNNING)
    client.force_login(make_user("boss", role=Role.MANAGER))
    assert client.get("/runs/new/").status_code == 403
    assert client.post("/runs/new/", {"model_name": "x"}).status_code == 403
    assert client.post(f"/runs/{run.pk}/cancel/").status_code == 403
    page = client.get(f"/runs/{run.pk}/")
    assert page.status_code == 200 and b"Cancel run" not in page.content
    assert b"Start a training run" not in client.get("/runs/").content


def test_runs_new_leads_to_the_catalogues_training_form(ds_client, team):
    from apps.catalog.services import catalog_load
    from tests.catalog.conftest import SHIPPED

    assert ds_client.get("/runs/new/").url == "/catalog/?kind=train"  # no catalogue loaded yet
    catalog_load(folder=SHIPPED)
    response = ds_client.get("/runs/new/")
    assert response.status_code == 302 and response.url == "/catalog/tabular-classifier/launch/"
    page = ds_client.get("/runs/").content.decode()
    assert 'href="/runs/new/"' in page  # the list's button leads there too


def test_destructive_buttons_ask_first(ds_client, make_run):
    page = ds_client.get(make_run(RunStatus.RUNNING).get_absolute_url()).content.decode()
    assert 'data-confirm="Cancel this run?' in page and "/static/js/confirm.js" in page


def test_the_form_starts_a_run_and_redirects_to_it(ds_client, team, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = ds_client.post(
            "/runs/new/",
            {
                "team": team.pk,
                "model_name": "bc",
                "dataset": "breast_cancer",
                "algorithm": "random_forest",
                "hyperparameters": '{"n_estimators": 10}',
            },
        )
    run = Run.objects.get()
    assert response.status_code == 302 and response.url == f"/runs/{run.pk}/"
    assert run.params == {
        "dataset": "breast_cancer",
        "algorithm": "random_forest",
        "hyperparameters": {"n_estimators": 10},
        "model_name": "bc",
    }
    assert len(callbacks) == 1


def test_form_errors_stand_beside_their_fields(ds_client, team):
    response = ds_client.post(
        "/runs/new/",
        {
            "team": team.pk,
            "model_name": "bad name!",
            "dataset": "iris",
            "algorithm": "random_forest",
            "hyperparameters": '{"n_estimators": 0}',
        },
    )
    assert response.status_code == 400
    form = response.context["form"]
    assert form.errors["model_name"][0].startswith("Required: letters, digits")
    assert form.errors["hyperparameters"][0].startswith("n_estimators: The 'n_estimators' parameter")
    assert 'class="field invalid"' in response.content.decode()
    response = ds_client.post("/runs/new/", {"team": team.pk, "model_name": "m", "dataset": "nope", "algorithm": "knn"})
    assert "Unknown dataset 'nope'" in response.context["form"].errors["dataset"][0]
    assert not Run.objects.exists()


def test_form_rejects_bad_json_and_connections_the_team_may_not_use(ds_client, team, other_team, make_user):
    from apps.connections.services import connection_create

    response = ds_client.post(
        "/runs/new/",
        {"team": team.pk, "model_name": "bc", "dataset": "iris", "algorithm": "knn", "hyperparameters": "{oops"},
    )
    assert "Not valid JSON" in response.context["form"].errors["hyperparameters"][0]
    admin = make_user("root", role=Role.ADMIN, teams=[])
    theirs = connection_create(
        user=admin,
        name="theirs",
        kind="databricks",
        config={"host": "http://127.0.0.1:9"},
        secrets={"token": "dapi-x-1234"},
        teams=[other_team],
    )
    response = ds_client.post(
        "/runs/new/",
        {"team": team.pk, "connection": theirs.pk, "model_name": "bc", "dataset": "iris", "algorithm": "knn"},
    )
    assert response.status_code == 400 and "connection" in response.context["form"].errors
    assert not Run.objects.exists()


def test_form_refuses_a_team_the_user_is_not_in(ds_client, other_team):
    response = ds_client.post(
        "/runs/new/",
        {
            "team": other_team.pk,
            "model_name": "bc",
            "dataset": "iris",
            "algorithm": "knn",
        },
    )
    assert response.status_code == 400 and "team" in response.context["form"].errors
    assert not Run.objects.exists()


def test_user_content_is_escaped(ds_client, make_run):
    run = make_run(status_message="<script>alert(1)</script>")
    RunEvent.objects.create(run=run, kind="log", message="<img src=x onerror=alert(2)>")
    content = ds_client.get(f"/runs/{run.pk}/").content.decode()
    assert "<script>alert(1)" not in content and "&lt;script&gt;alert(1)" in content
    assert "<img src=x" not in content


def test_status_partial_polls_only_while_the_run_is_live(ds_client, make_run):
    live = make_run(RunStatus.RUNNING, progress=42.0)
    partial = ds_client.get(f"/runs/{live.pk}/", HTTP_HX_REQUEST="true")
    content = partial.content.decode()
    assert 'hx-trigger="every 2s"' in content and "<html" not in content and "42%" in content
    done = make_run(RunStatus.SUCCEEDED, step={"model_name": "m", "model_version": "7"})
    content = ds_client.get(f"/runs/{done.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert "hx-trigger" not in content
    assert 'data-testid="model-version">7<' in content


def test_a_finished_run_links_first_to_the_portal_version_then_to_the_backend(ds_client, api, make_run, team):
    """The run page is no dead end: the version in Models, then MLflow's own pages."""
    from tests.registry.factories import make_model

    links = [{"label": "MLflow run", "url": "http://mlflow.example/#/experiments/1/runs/abc"}]
    run = make_run(
        RunStatus.SUCCEEDED,
        step={"model_name": "iris-lr", "model_version": "2", "links": links},
    )
    model = make_model(team=team, name="iris-lr", versions=2)
    version = model.versions.get(version="2")
    version.run = run
    version.save()
    content = ds_client.get(f"/runs/{run.pk}/").content.decode()
    portal = content.index(f'href="/models/{model.pk}/versions/2/"')
    assert portal < content.index('href="http://mlflow.example/#/experiments/1/runs/abc"')
    body = api.get(f"/api/v1/runs/{run.pk}/").json()
    expected = {"id": str(version.pk), "name": "iris-lr", "version": "2", "url": f"/models/{model.pk}/versions/2/"}
    assert body["model_version"] == expected
    assert body["steps"][0]["model_version"] == expected
    assert body["steps"][0]["model"] == {"name": "iris-lr", "version": "2"}
    assert body["steps"][0]["links"] == links
    listed = api.get("/api/v1/runs/").json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert next(row for row in rows if row["id"] == str(run.pk))["model_version"] == expected


def test_cancel_button_cancels_a_pending_run(ds_client, make_run):
    run = make_run()
    response = ds_client.post(f"/runs/{run.pk}/cancel/")
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED


def test_list_filters_work_without_javascript(ds_client, ds, make_user, make_run):
    make_run(RunStatus.FAILED, name="broken one")
    make_run(RunStatus.SUCCEEDED, name="good one", user=make_user("colleague"))
    page = ds_client.get("/runs/?status=failed").content.decode()
    assert "broken one" in page and "good one" not in page
    page = ds_client.get("/runs/?mine=on").content.decode()
    assert "broken one" in page and "good one" not in page
    partial = ds_client.get("/runs/?status=succeeded", HTTP_HX_REQUEST="true").content.decode()
    assert "good one" in partial and "<html" not in partial


def test_runs_list_renders_at_a_constant_number_of_queries(ds_client, make_user, make_run):
    def queries():
        with CaptureQueriesContext(connection) as ctx:
            assert ds_client.get("/runs/").status_code == 200
        return len(ctx.captured_queries)

    make_run()
    few = queries()
    for i in range(20):
        make_run(user=make_user(f"user{i}"))
    assert queries() == few


def test_unknown_section_is_404(ds_client):
    assert ds_client.get("/section/nothing/").status_code == 404


def test_pages_load_htmx_and_never_a_cdn(ds_client):
    content = ds_client.get("/runs/").content.decode()
    assert "/static/django_htmx/htmx" in content and "X-CSRFToken" in content
    assert "cdn" not in content.lower() and "unpkg" not in content
