import os

from django.conf import settings
from django.core.management.base import BaseCommand

from apps.accounts.models import Team, User
from apps.backends.sandbox.databricks.sql import WAREHOUSE_ID as DATABRICKS_WAREHOUSE_ID
from apps.backends.sandbox.databricks.state import DEFAULT_ACCOUNT_ID as DATABRICKS_ACCOUNT_ID
from apps.connections.models import Connection
from apps.connections.services import connection_create, connection_update

# The stand-ins `make run` starts (apps/backends/sandbox): moto's server for
# AWS, the in-repo Databricks stand-in. Real accounts are added by an admin.
SANDBOXES = {
    "SageMaker sandbox": (
        "sagemaker",
        lambda: {
            "region": "us-east-1",
            "endpoint_url": f"http://127.0.0.1:{os.environ.get('AWS_SANDBOX_PORT', 5001)}",
            "execution_role_arn": "arn:aws:iam::123456789012:role/atrium-sagemaker",
            "output_s3_uri": "s3://atrium-sandbox/outputs",
        },
        {"access_key_id": "sandbox", "secret_access_key": "sandbox-secret"},
    ),
    "Databricks sandbox": (
        "databricks",
        lambda: {
            "host": f"http://127.0.0.1:{os.environ.get('DATABRICKS_SANDBOX_PORT', 5002)}",
            # the stand-in runs the job programs on this machine: file datasets are the portal's own
            "data_root": str(settings.DATA_ROOT),
            # the stand-in's SQL warehouse: endpoints' inference tables are read with it
            "warehouse_id": DATABRICKS_WAREHOUSE_ID,
            # costs: the stand-in's account, and DBUs priced in USD (its billing is SANDBOX data)
            "account_id": DATABRICKS_ACCOUNT_ID,
            "dbu_price": "0.55",
        },
        {"token": os.environ.get("DATABRICKS_SANDBOX_TOKEN", "dapi-sandbox")},
    ),
}


class Command(BaseCommand):
    help = "Create (or refresh) the two sandbox connections for the Demo team (idempotent)."

    def handle(self, *args, **options):
        admin = User.objects.get(username="admin")
        teams = list(Team.objects.filter(slug="demo"))
        for name, (kind, config, secrets) in SANDBOXES.items():
            existing = Connection.objects.filter(name=name).first()
            if existing is None:
                connection_create(
                    user=admin, name=name, kind=kind, config=config(), secrets=secrets, teams=teams, is_sandbox=True
                )
            else:
                connection_update(user=admin, connection=existing, config=config(), secrets=secrets, teams=teams)
        self.stdout.write(self.style.SUCCESS(f"Sandbox connections: {', '.join(SANDBOXES)}"))
