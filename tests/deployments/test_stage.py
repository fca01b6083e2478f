"""A rollout stage against a backend still busy with its last change (a
SageMaker weights update, a Databricks config update, which they refuse to
overlap): the rollback stops the harm in the portal (the gateway routes by its
weights) before the backend follows, and the drain waits for the backend before
the promotion. The backend is a stand-in object here: what matters is the
order of the stage's moves, not the cloud (tests/gateway/test_canary_clouds.py
runs them against the cloud stand-ins)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.backends.base import EndpointStatus, NotReady
from apps.deployments.models import Endpoint, EndpointEvent, EndpointState
from apps.deployments.rollouts import RolloutStage
from apps.deployments.telemetry import MinuteCounts, minutes_record
from apps.runs.operations import Job

pytestmark = pytest.mark.django_db


class BusyBackend:
    """Refuses traffic changes while ``busy`` polls remain; records what it was asked."""

    def __init__(self, busy=0):
        self.busy = busy
        self.asked: list[dict] = []

    def get_endpoint(self, name):
        return EndpointStatus(name, "updating" if self.busy else "in_service")

    def update_traffic(self, name, weights):
        if self.busy:
            self.busy -= 1
            raise NotReady(f"Endpoint {name} is Updating; the traffic change waits for it.")
        self.asked.append(dict(weights))


@pytest.fixture
def stage(make_run, team, ds):
    """A canary stage baking (25% to "new"), the endpoint's row and its step's job."""
    endpoint = Endpoint.objects.create(
        team=team,
        backend="local",
        source="local",
        name="busy",
        state=EndpointState.IN_SERVICE,
        weights={"old": 75, "new": 25},
        created_by=ds,
    )
    params = {
        "endpoint": "busy",
        "endpoint_id": str(endpoint.pk),
        "stage_label": "Stage 1 of 1",
        "weights": {"old": 75, "new": 25},
        "bake_seconds": 3600,
        "candidate": "new",
        "baseline": "old",
        "thresholds": {"min_requests": 10},
        "last": True,
    }
    run = make_run("running", params=params)
    step = run.steps.get()
    step.action, step.started_at = "rollout_stage", timezone.now() - timedelta(seconds=5)
    step.save()
    return endpoint, run, Job(key=step.idempotency_key, params=params)


def served(endpoint, variant, requests, errors=0):
    """What the gateways counted: ``requests`` to ``variant`` this minute, ``errors`` of them 5xx."""
    minute = timezone.now().replace(second=0, microsecond=0)
    counts = MinuteCounts(endpoint_id=endpoint.pk, variant=variant, minute=minute)
    for index in range(requests):
        status = 500 if index < errors else 200
        counts.add(status=status, latency_ms=8.0, model_latency_ms=6.0, bytes_in=10, bytes_out=10)
    minutes_record([counts])


def test_a_rollback_stops_the_harm_in_the_gateway_before_the_busy_backend_follows(stage):
    endpoint, run, job = stage
    served(endpoint, "old", 60)
    served(endpoint, "new", 20, errors=20)
    backend = BusyBackend(busy=1)

    with pytest.raises(NotReady):  # the engine polls again at its pace
        RolloutStage().poll(backend, job)
    endpoint.refresh_from_db()
    assert endpoint.weights == {"old": 100, "new": 0}  # every gateway stops sending to "new" already
    served(endpoint, "old", 5)  # the figures move on before the next poll: the decision stands as taken

    status = RolloutStage().poll(backend, job)
    assert backend.asked == [{"old": 100, "new": 0}]
    (event,) = endpoint.events.filter(kind=EndpointEvent.Kind.ROLLED_BACK)
    assert event.automatic and event.message.startswith("Rolled back automatically: error rate 100.0%")
    assert status.message == event.message and status.outputs["rolled_back"]


def test_the_drain_waits_for_the_backend_before_shifting_and_before_the_promotion(stage, settings):
    endpoint, run, job = stage
    settings.GATEWAY_CACHE_SECONDS = 0
    served(endpoint, "old", 60)
    served(endpoint, "new", 20)
    backend = BusyBackend(busy=1)
    job.params["bake_seconds"] = 0

    assert RolloutStage().poll(backend, job).message.startswith("All traffic to new: draining old")
    assert backend.asked == []  # not while the backend is mid-change (it would refuse)
    backend.busy = 0
    RolloutStage().poll(backend, job)
    assert backend.asked == [{"old": 0, "new": 100}]
    Endpoint.objects.filter(pk=endpoint.pk).update(updated_at=timezone.now() - timedelta(seconds=5))
    backend.busy = 1  # the backend applying that shift: the promotion waits for it
    assert RolloutStage().poll(backend, job).message.startswith("All traffic to new: draining old")
    backend.busy = 0
    assert RolloutStage().poll(backend, job).message.startswith("Healthy")
