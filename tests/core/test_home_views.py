"""The home page: a landing page per role, read through each app's selectors."""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.accounts.models import Role
from apps.runs.models import Run, RunStatus, RunStep, StepStatus
from tests.registry.factories import make_model

pytestmark = pytest.mark.django_db


def gate_run(*, user, team, name="gated"):
    run_id = uuid.uuid4()
    run = Run.objects.create(
        id=run_id,
        team=team,
        created_by=user,
        kind="template",
        backend="local",
        name=name,
        status=RunStatus.RUNNING,
        idempotency_key=f"atr-{run_id.hex}",
    )
    RunStep.objects.create(
        run=run,
        position=0,
        key="review",
        name="Review the model",
        action=RunStep.APPROVAL,
        status=StepStatus.WAITING,
        idempotency_key=f"atr-{run_id.hex}-0",
    )
    return run


def home(client, user):
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 200
    return response.content.decode()


def test_home_is_the_landing_page_not_a_redirect(client, ds):
    client.force_login(ds)
    response = client.get("/")
    assert response.status_code == 200
    assert response.templates[0].name == "home/home.html"


def test_anonymous_home_asks_to_log_in(client):
    response = client.get("/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_data_scientist_home_shows_their_runs_models_and_quick_launch(client, ds, team, make_run, make_user):
    from apps.catalog.services import catalog_load
    from tests.catalog.conftest import SHIPPED

    catalog_load(folder=SHIPPED)
    running = make_run(RunStatus.RUNNING, name="my-running-run")
    make_run(RunStatus.SUCCEEDED, name="my-finished-run")
    make_run(RunStatus.SUCCEEDED, name="colleagues-run", user=make_user("colleague"))
    make_model(team=team, name="churn", aliases={"champion": 2})
    page = home(client, ds)
    assert 'data-panel="runs.mine"' in page and 'data-panel="catalog.quick"' in page
    assert "my-running-run" in page and "my-finished-run" in page and running.get_absolute_url() in page
    assert "colleagues-run" not in page  # "your runs" are yours
    assert "churn" in page and "@champion → v2" in page
    assert "/catalog/tabular-classifier/launch/" in page
    # Panels of other roles are not on a data scientist's home.
    assert 'data-panel="costs.budget"' not in page and 'data-panel="runs.gates"' not in page


def test_approvers_decide_in_their_inbox_and_admins_see_every_waiting_gate(client, make_user, team, other_team):
    approver = make_user("approver", role=Role.APPROVER)
    gate_run(user=make_user("author"), team=team, name="alpha-gated")
    gate_run(user=make_user("stranger", teams=[other_team]), team=other_team, name="beta-gated")
    page = home(client, approver)
    assert 'data-panel="approvals.waiting"' in page and 'data-panel="runs.gates"' not in page
    assert 'data-panel="catalog.quick"' not in page  # approvers do not launch
    page = home(client, make_user("root", role=Role.ADMIN))
    assert 'data-panel="runs.gates"' in page
    assert "alpha-gated" in page and "beta-gated" in page and "Review the model" in page


def test_manager_home_says_plainly_what_is_not_built(client, make_user, team, make_run):
    manager = make_user("manager", role=Role.MANAGER)
    make_run(RunStatus.SUCCEEDED, name="team-run")
    make_model(team=team, name="fraud")
    page = home(client, manager)
    for key in ("deployments.health", "costs.budget", "monitoring.drift"):
        assert f'data-panel="{key}"' in page
    assert "Not built yet" not in page  # spend, endpoint health and drift are all real
    assert "No budget for your teams yet." in page and "No monitors in your teams yet." in page
    assert "No endpoints in your teams yet." in page
    assert "team-run" in page and "fraud" in page
    assert "$" not in page and "€" not in page  # no invented spend


def test_home_queries_are_constant(client, ds, team, make_run, make_user):
    admin = make_user("boss", role=Role.ADMIN)

    def queries(user):
        client.force_login(user)
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/").status_code == 200
        return len(captured.captured_queries)

    make_run(RunStatus.RUNNING)
    make_model(team=team, aliases={"champion": 1})
    gate_run(user=ds, team=team)
    few_ds, few_admin = queries(ds), queries(admin)
    for i in range(12):
        make_run(RunStatus.RUNNING if i % 2 else RunStatus.SUCCEEDED)
        make_model(team=team, aliases={"champion": 1, "challenger": 2})
        gate_run(user=ds, team=team, name=f"g{i}")
    assert queries(ds) == few_ds
    assert queries(admin) == few_admin


def test_home_puts_my_favourite_templates_and_the_models_i_trained_first(ds, team, make_run, make_user):
    """Quick launch: what I launch most, then what others launch most, then by name;
    models: those with a version I trained, even older ones, then the newest."""
    from datetime import timedelta

    from django.utils import timezone

    from apps.catalog.models import Template
    from apps.catalog.selectors import templates_for_home
    from apps.catalog.services import catalog_load
    from apps.registry.selectors import models_for_home
    from tests.catalog.conftest import SHIPPED

    catalog_load(folder=SHIPPED)
    by_name = list(Template.objects.filter(archived=False).order_by("name"))
    mine, popular = by_name[-1], by_name[-2]  # last by name: only launches can lift them
    colleague = make_user("colleague")
    make_run(RunStatus.SUCCEEDED, template_version=mine.current_version)
    for _ in range(2):
        make_run(RunStatus.SUCCEEDED, user=colleague, template_version=popular.current_version)
    quick = templates_for_home(user=ds)
    assert [t.slug for t in quick[:2]] == [mine.slug, popular.slug]
    assert (quick[0].launched_by_me, quick[1].launched_by_me, quick[1].launched) == (1, 0, 2)
    assert [t.slug for t in quick[2:]] == [t.slug for t in by_name[: len(quick) - 2]]

    now = timezone.now()

    def model(name, age):
        made = make_model(team=team, name=name)
        type(made).objects.filter(pk=made.pk).update(latest_version_at=now - age)
        return made

    old = model("old-but-mine", timedelta(days=30))
    newer = [model(f"newer-{i}", timedelta(hours=i)) for i in range(8)]
    old.versions.filter(version="1").update(run=make_run(RunStatus.SUCCEEDED))
    shown = models_for_home(user=ds)
    assert [m.name for m in shown] == ["old-but-mine"] + [m.name for m in newer[:7]]
    assert shown[0].trained_by_me and not shown[1].trained_by_me
