import os
import secrets

from django.core.management.base import BaseCommand

from apps.accounts.models import Role, User
from apps.accounts.services import team_get_or_create, user_create

DEMO_USERS = [
    ("ds", Role.DATA_SCIENTIST),
    ("approver", Role.APPROVER),
    ("approver2", Role.APPROVER),  # production takes two approvals: a quorum to show
    ("manager", Role.MANAGER),
    ("admin", Role.ADMIN),
]


class Command(BaseCommand):
    help = "Create the demo team and users ds, approver, approver2, manager and admin (idempotent)."

    def handle(self, *args, **options):
        password = os.environ.get("DEMO_PASSWORD") or secrets.token_urlsafe(9)
        team = team_get_or_create(name="Demo")
        for username, role in DEMO_USERS:
            user = User.objects.filter(username=username).first()
            if user is None:
                user = user_create(username=username, password=password, role=role, teams=[team])
            else:
                user.set_password(password)
                user.save(update_fields=["password"])
            if role == Role.ADMIN and not user.is_staff:
                User.objects.filter(pk=user.pk).update(is_staff=True, is_superuser=True)
        self.stdout.write(
            self.style.SUCCESS(f"Demo users ds, approver, approver2, manager, admin (team Demo) — password: {password}")
        )
