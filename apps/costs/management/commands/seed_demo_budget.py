from decimal import Decimal

from django.core.management.base import BaseCommand

from apps.accounts.models import Team, User
from apps.costs.models import Budget
from apps.costs.services import budget_create

DEMO_BUDGET = Decimal("5000")


class Command(BaseCommand):
    help = "Give team Demo a monthly budget (5,000 USD; thresholds 50/80/100%), once (idempotent)."

    def handle(self, *args, **options):
        team = Team.objects.get(slug="demo")
        if not Budget.objects.filter(team=team, project="").exists():
            budget_create(user=User.objects.get(username="manager"), team=team, amount=DEMO_BUDGET)
        self.stdout.write(self.style.SUCCESS("Demo's monthly budget: 5,000 USD (alerts at 50, 80 and 100%)"))
