"""Tell people when something they care about happens: in the portal at
once, and by e-mail (Django's mail backend) from a worker after commit."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.accounts.models import Role, User

from .emails import notification_emails_send  # noqa: F401 - the service callers know
from .models import Notification

LEVELS = {"succeeded": Notification.Level.SUCCESS, "failed": Notification.Level.ERROR}


def notify_run_finished(*, run) -> Notification:
    """The run's creator hears that it ended. Called inside the transition's transaction."""
    message = f"Run “{run}” {run.status}" + (f": {run.status_message}" if run.status == "failed" else ".")
    return _notify(
        users=[run.created_by],
        run=run,
        level=LEVELS.get(run.status, Notification.Level.INFO),
        message=message,
        subject=f"[Atrium] {run} {run.status}",
    )[0]


def notify_gate_waiting(*, run, step) -> list[Notification]:
    """A gate waits: those who may release it hear so (admins, until the
    approvals capability names approvers)."""
    admins = User.objects.filter(Q(is_superuser=True) | Q(groups__name=Role.ADMIN), is_active=True).distinct()
    return _notify(
        users=list(admins),
        run=run,
        level=Notification.Level.ACTION,
        message=f"Run “{run}” waits for a decision at step “{step.name}”.",
        subject=f"[Atrium] {run} waits for a decision",
    )


def notify_users(*, users, message: str, url: str, subject: str, level: str = Notification.Level.INFO) -> list:
    """Tell ``users`` something that is not about a run (a promotion to decide,
    a decision made): in the portal now, by e-mail after commit."""
    return _notify(users=users, run=None, level=level, message=message, subject=subject, url=url)


def _notify(*, users, run, level, message, subject, url: str | None = None) -> list[Notification]:
    url = url if url is not None else run.get_absolute_url()
    notifications = Notification.objects.bulk_create(
        [Notification(user=user, run=run, level=level, message=message[:500], url=url) for user in users]
    )
    ids = [str(n.pk) for n in notifications]
    if ids:
        transaction.on_commit(lambda: _send_emails(ids, subject))
    return notifications


def _send_emails(ids: list[str], subject: str) -> None:
    from .tasks import send_notification_emails

    send_notification_emails.delay(ids, subject)


def notifications_mark_read(*, user: User, ids: list[str] | None = None) -> int:
    unread = Notification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=ids)
    return unread.update(read_at=timezone.now())
