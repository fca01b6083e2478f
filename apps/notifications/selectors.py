from django.db.models import QuerySet

from apps.accounts.models import User

from .models import Notification


def notification_list(*, user: User) -> QuerySet[Notification]:
    return Notification.objects.filter(user=user)


def unread_count(*, user: User) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()
