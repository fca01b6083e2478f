"""Notifications by e-mail, sent by a worker after commit (``tasks``)."""

from django.conf import settings

from .models import Notification


def notification_emails_send(*, ids: list[str], subject: str) -> int:
    """Mail each notification to its user, if the user has an address."""
    from django.core.mail import send_mail

    sent = 0
    for notification in Notification.objects.filter(pk__in=ids).select_related("user"):
        if not notification.user.email:
            continue
        link = f"{settings.PORTAL_URL.rstrip('/')}{notification.url}" if notification.url else ""
        body = f"{notification.message}\n\n{link}\n" if link else f"{notification.message}\n"
        sent += send_mail(subject, body, None, [notification.user.email])
    return sent
