"""The gateway's per-minute rollups: batches from any number of gateway
processes add up exactly, and percentiles come from the summed histogram."""

from datetime import UTC, datetime, timedelta

import pytest

from apps.deployments import telemetry
from apps.deployments.models import Endpoint, EndpointMinute

pytestmark = pytest.mark.django_db

MINUTE = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


@pytest.fixture
def endpoint(team, ds):
    return Endpoint.objects.create(team=team, backend="local", source="local", name="iris", created_by=ds)


def counts(endpoint, variant, latencies, *, status=200, minute=MINUTE):
    row = telemetry.MinuteCounts(endpoint_id=endpoint.pk, variant=variant, minute=minute)
    for latency in latencies:
        row.add(status=status, latency_ms=latency, model_latency_ms=latency / 2, bytes_in=100, bytes_out=10)
    return row


def test_batches_of_the_same_minute_add_up(endpoint):
    telemetry.minutes_record([counts(endpoint, "a", [3, 4]), counts(endpoint, "b", [30])])
    telemetry.minutes_record([counts(endpoint, "a", [7], status=503), counts(endpoint, "a", [1], status=400)])

    row = EndpointMinute.objects.get(endpoint=endpoint, variant="a", minute=MINUTE)
    assert (row.requests, row.errors, row.client_errors) == (4, 1, 1)
    assert row.latency_ms_sum == pytest.approx(15)
    assert row.bytes_in == 400
    assert (row.le_1, row.le_5, row.le_10) == (1, 2, 1)
    assert EndpointMinute.objects.count() == 2


def test_figures_by_variant_over_a_window(endpoint):
    telemetry.minutes_record([counts(endpoint, "a", [4] * 95 + [400] * 5)])
    telemetry.minutes_record([counts(endpoint, "a", [4] * 10, status=500, minute=MINUTE + timedelta(minutes=1))])
    telemetry.minutes_record([counts(endpoint, "a", [4] * 50, minute=MINUTE - timedelta(minutes=5))])  # before

    figures = telemetry.figures_by_variant(endpoint_id=endpoint.pk, since=MINUTE)["a"]
    assert figures.requests == 110 and figures.errors == 10
    assert figures.error_rate == pytest.approx(10 / 110)
    assert 2 < figures.p50_ms <= 5  # in the (2, 5] ms bucket
    assert 250 < figures.p99_ms <= 500


def test_percentile_of_an_empty_histogram_is_none():
    assert telemetry.percentile([0] * 13, 0.95) is None
