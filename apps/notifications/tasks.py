"""Thin Celery entry points."""

from celery import shared_task

from . import emails


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_notification_emails(ids: list[str], subject: str):
    return emails.notification_emails_send(ids=ids, subject=subject)
