from django.core.management.base import BaseCommand

from apps.accounts.models import Team, User
from apps.approvals.models import Environment
from apps.approvals.policies import environment_save

# Demo data: team Demo's two environments. Staging takes one approval;
# production two (a quorum: approver and approver2), with the evidence it requires.
DEMO_ENVIRONMENTS = [
    {
        "name": "staging",
        "description": "Demo environment: pre-production checks, one approval.",
        "approvals_required": 1,
        "checks": {"champion": {"required": True, "max_drop": 0.02}},
    },
    {
        "name": "production",
        "description": "Demo environment: serves customers, two approvals.",
        "approvals_required": 2,
        "checks": {
            "champion": {"required": True, "max_drop": 0.01},
            "latency": {"required": True, "max_p95_ms": 50},
            "bias": {"required": True, "max_disparity": 0.1},
        },
        "sensitive_column": "sex",
    },
]


class Command(BaseCommand):
    help = "Create team Demo's demo environments, staging and production, with their policies (idempotent)."

    def handle(self, *args, **options):
        team = Team.objects.filter(name="Demo").first()
        admin = User.objects.filter(username="admin").first()
        if team is None or admin is None:
            self.stderr.write("Run seed_demo first: team Demo and user admin are needed.")
            return
        made = []
        for spec in DEMO_ENVIRONMENTS:
            if Environment.objects.filter(team=team, name=spec["name"]).exists():
                continue  # an admin's later changes to the policy stay
            environment_save(user=admin, team=team, **spec)
            made.append(spec["name"])
        self.stdout.write(self.style.SUCCESS(f"Demo environments for team Demo: {', '.join(made) or 'already there'}"))
