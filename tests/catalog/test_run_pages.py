"""A template run's page: its steps, the gate's release, retry -- and who may do what."""

import pytest

from apps.accounts.models import Role
from apps.audit.models import AuditEvent
from apps.catalog.services import template_launch
from apps.runs.models import Run, RunStatus, StepStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def gated_run(shipped_catalog, ds):
    run = template_launch(
        user=ds, template=shipped_catalog["train-approve-deploy"], params={"model_name": "m", "endpoint": "ep"}
    )
    Run.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, external_id="steps")
    run.steps.filter(key="train").update(status=StepStatus.SUCCEEDED, model_name="m", model_version="3")
    run.steps.filter(key="approve").update(status=StepStatus.WAITING, params={"subject": "m version 3"})
    run.refresh_from_db()
    return run


def test_run_page_shows_each_step_and_polls_while_running(ds_client, gated_run):
    page = ds_client.get(gated_run.get_absolute_url()).content.decode()
    assert page.count('data-testid="step"') == 3
    assert "Waits for an admin to release it" in page and 'data-testid="approve-step"' not in page
    assert 'hx-trigger="every 2s"' in page
    assert f"/catalog/train-approve-deploy/launch/?rerun={gated_run.pk}" in page


def test_only_an_admin_releases_a_gate(ds_client, client, gated_run, make_user, django_capture_on_commit_callbacks):
    gate = gated_run.steps.get(key="approve")
    url = f"/runs/{gated_run.pk}/steps/{gate.pk}/decide/"
    assert ds_client.post(url, {"decision": "approve"}).status_code == 403
    gate.refresh_from_db()
    assert gate.status == StepStatus.WAITING

    client.force_login(make_user("root", role=Role.ADMIN))
    assert 'data-testid="approve-step"' in client.get(gated_run.get_absolute_url()).content.decode()
    with django_capture_on_commit_callbacks() as callbacks:
        assert client.post(url, {"decision": "approve", "comment": "<b>ok</b>"}).status_code == 302
    gate.refresh_from_db()
    assert gate.status == StepStatus.SUCCEEDED and gate.decided_by.username == "root"
    assert len(callbacks) == 1  # the run goes on in a worker
    page = client.get(gated_run.get_absolute_url()).content.decode()
    assert "<b>ok</b>" not in page and "&lt;b&gt;ok&lt;/b&gt;" in page
    # A second decision is refused, not applied twice.
    client.post(url, {"decision": "reject"})
    gate.refresh_from_db()
    assert gate.status == StepStatus.SUCCEEDED
    # One audit record, of the decision that was taken.
    decisions = AuditEvent.objects.filter(target_id=str(gated_run.pk)).values_list("actor_name", "action", "data")
    assert list(decisions) == [("root", "run.step_approved", {"step": "approve", "comment": "<b>ok</b>"})]


def test_another_teams_run_is_404(client, gated_run, make_user, other_team):
    client.force_login(make_user("outsider", teams=[other_team]))
    gate = gated_run.steps.get(key="approve")
    assert client.get(gated_run.get_absolute_url()).status_code == 404
    assert client.post(f"/runs/{gated_run.pk}/retry/").status_code == 404
    assert client.post(f"/runs/{gated_run.pk}/steps/{gate.pk}/decide/", {"decision": "approve"}).status_code == 404


def test_retry_button_on_a_failed_run_makes_a_linked_run(ds_client, gated_run, django_capture_on_commit_callbacks):
    Run.objects.filter(pk=gated_run.pk).update(status=RunStatus.FAILED)
    gated_run.steps.filter(key="approve").update(status=StepStatus.FAILED, status_message="Rejected")
    assert 'data-testid="retry"' in ds_client.get(gated_run.get_absolute_url()).content.decode()
    with django_capture_on_commit_callbacks():
        response = ds_client.post(f"/runs/{gated_run.pk}/retry/")
    retry = Run.objects.get(retry_of=gated_run)
    assert response.url == retry.get_absolute_url()
    steps = {s.key: s for s in retry.steps.all()}
    assert steps["train"].status == StepStatus.SUCCEEDED and steps["train"].model_version == "3"
    assert steps["approve"].status == StepStatus.PENDING and steps["deploy"].status == StepStatus.PENDING


def test_a_running_run_cannot_be_retried(ds_client, gated_run):
    response = ds_client.post(f"/runs/{gated_run.pk}/retry/", follow=True)
    assert "only a failed or cancelled run can be retried" in response.content.decode()
    assert not Run.objects.filter(retry_of=gated_run).exists()


def test_manager_cannot_retry(client, gated_run, make_user):
    Run.objects.filter(pk=gated_run.pk).update(status=RunStatus.FAILED)
    client.force_login(make_user("boss", role=Role.MANAGER))
    assert client.post(f"/runs/{gated_run.pk}/retry/").status_code == 403


def test_my_open_runs(ds_client, gated_run, make_run):
    make_run(status=RunStatus.SUCCEEDED, name="finished one")
    page = ds_client.get("/runs/", {"mine": "on", "status": "open"}).content.decode()
    assert str(gated_run) in page and "finished one" not in page
