"""People hear when their runs end: in the portal, and by e-mail."""

import pytest
from django.core import mail

from apps.notifications.models import Notification
from apps.notifications.services import notification_emails_send
from apps.runs.hooks import effects_apply
from apps.runs.models import RunStatus
from apps.runs.transitions import run_transition

pytestmark = pytest.mark.django_db


def finish(run, to=RunStatus.FAILED, message="The job ran out of memory"):
    run_transition(run=run, to=RunStatus.SUBMITTING)
    run_transition(run=run, to=RunStatus.RUNNING)
    run_transition(run=run, to=to, message=message)
    effects_apply(run_id=run.pk)  # what the engine does after the transition has committed


def test_a_finished_run_notifies_its_creator_in_app_and_by_mail(
    make_run, ds, django_capture_on_commit_callbacks, settings
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    ds.email = "ds@example.com"
    ds.save()
    run = make_run()
    with django_capture_on_commit_callbacks() as callbacks:
        finish(run)
    note = Notification.objects.get(user=ds, run=run)
    assert note.level == "error" and "ran out of memory" in note.message and note.url == run.get_absolute_url()
    assert callbacks  # the e-mail goes after commit, from a worker
    assert notification_emails_send(ids=[str(note.pk)], subject="[Atrium] x") == 1
    assert mail.outbox[0].to == ["ds@example.com"] and run.get_absolute_url() in mail.outbox[0].body


def test_no_mail_without_an_address(make_run, ds, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    run = make_run()
    finish(run, to=RunStatus.SUCCEEDED, message="")
    note = Notification.objects.get(user=ds, run=run)
    assert note.level == "success"
    assert notification_emails_send(ids=[str(note.pk)], subject="x") == 0 and mail.outbox == []


def test_unread_count_in_the_bar_and_mark_all_read(ds_client, make_run, ds):
    finish(make_run())
    finish(make_run())
    page = ds_client.get("/runs/").content.decode()
    assert 'data-testid="notifications">Notifications <span class="count">2</span>' in page
    listing = ds_client.get("/notifications/").content.decode()
    assert listing.count("ran out of memory") == 2
    assert ds_client.post("/notifications/read/").status_code == 302
    assert not Notification.objects.filter(user=ds, read_at__isnull=True).exists()


def test_notifications_are_private(client, make_run, make_user):
    finish(make_run())
    client.force_login(make_user("someone-else"))
    assert "ran out of memory" not in client.get("/notifications/").content.decode()


def test_anonymous_is_sent_to_login(client):
    assert client.get("/notifications/").status_code == 302
    assert client.post("/notifications/read/").status_code == 302
