"""Mirror rows made directly (for pages, permissions and query counts: no registry needed)."""

import uuid
from datetime import timedelta

from django.utils import timezone

from apps.registry.models import ModelAlias, ModelVersion, RegisteredModel


def make_model(*, team, name=None, backend="local", versions=3, aliases=None, metric="accuracy", **fields):
    """A model with ``versions`` versions (metric rising with the version) and
    ``aliases`` {alias: version}."""
    now = timezone.now()
    model = RegisteredModel.objects.create(
        team=team,
        backend=backend,
        source=fields.pop("source", "local"),
        name=name or f"model-{uuid.uuid4().hex[:8]}",
        latest_version_number=versions,
        latest_version_at=now,
        version_count=versions,
        latest_metrics={metric: 0.5 + versions / 100},
        primary_metric=metric,
        **fields,
    )
    rows = ModelVersion.objects.bulk_create(
        [
            ModelVersion(
                model=model,
                version=str(n),
                number=n,
                metrics={metric: 0.5 + n / 100, "log_loss": 1.0 - n / 100},
                params={"C": str(n), "dataset": "iris"},
                approval_status="PendingManualApproval" if n % 2 else "Approved",
                upstream_created_at=now - timedelta(minutes=versions - n),
            )
            for n in range(1, versions + 1)
        ]
    )
    by_version = {row.version: row for row in rows}
    for alias, version in (aliases or {}).items():
        ModelAlias.objects.create(model=model, version=by_version[str(version)], alias=alias)
    return model
