"""The endpoint page's live panel (polled while a rollout runs): a running stage
shows the figures it is judged on, read from the gateway's rollups as the stage
will read them; the history is part of what refreshes; a finished rollout stays
in view, and polling stops. (The browser test watches the same with a real
worker and gateway: test_canary_browser.py.)"""

import pytest
from django.utils import timezone

from apps.deployments import telemetry
from apps.deployments.models import Endpoint
from apps.runs.models import Run
from tests.deployments.test_endpoint_pages_and_api import make_endpoint

pytestmark = pytest.mark.django_db


def _traffic(endpoint, variant, requests, errors=0, latency_ms=4.0):
    row = telemetry.MinuteCounts(
        endpoint_id=endpoint.pk, variant=variant, minute=timezone.now().replace(second=0, microsecond=0)
    )
    for index in range(requests):
        row.add(
            status=500 if index < errors else 200, latency_ms=latency_ms, model_latency_ms=1, bytes_in=10, bytes_out=5
        )
    telemetry.minutes_record([row])


def test_a_running_stage_shows_the_figures_it_is_judged_on(api, ds_client, team):
    endpoint = make_endpoint(team, "served")
    body = {
        "endpoint": "served",
        "model_name": "iris",
        "model_version": "2",
        "rollout": {"strategy": "canary", "percent": 10, "bake_seconds": 60},
    }
    run = Run.objects.get(pk=api.post("/api/v1/endpoints/", body, format="json").json()["id"])
    run.steps.filter(key="deploy").update(status="succeeded")
    stage = run.steps.get(key="stage-1")
    stage.status, stage.params, stage.started_at = "running", stage.inputs, timezone.now()
    stage.status_message = "Baking: 10 s of 1 min; 12 of the 20 requests needed to judge the candidate"
    stage.save()
    Run.objects.filter(pk=run.pk).update(status="running")
    _traffic(endpoint, "iris-v2", 12, errors=3)
    _traffic(endpoint, "a", 108)

    live = ds_client.get(f"/deployments/{endpoint.pk}/live/").content.decode()
    assert 'hx-trigger="every 2s"' in live
    figures = live.split('data-testid="stage-figures"', 1)[1].split("</table>", 1)[0]
    candidate = figures.split('data-role="candidate"', 1)[1].split("</tr>", 1)[0]
    baseline = figures.split('data-role="baseline"', 1)[1].split("</tr>", 1)[0]
    assert "iris-v2" in candidate and "<td>12</td><td>3</td><td>25.0%</td>" in candidate
    assert "<td>a</td><td>108</td><td>0</td><td>0.0%</td>" in baseline
    assert "12 of the 20 requests needed" in live
    assert 'data-testid="history"' in live and "Deploying iris v2: canary: 10% for 1 min, then all" in live

    # The rollout ended: it stays in view as the last one, with what it was judged on; polling stops.
    run.steps.filter(key="stage-1").update(
        status="succeeded",
        status_message="Healthy: error rate 0.0% over 40 requests",
        outputs={"figures": {"candidate": {"requests": 40, "errors": 0, "error_rate": 0.0, "p95_ms": 5.0}}},
    )
    Run.objects.filter(pk=run.pk).update(status="succeeded")
    Endpoint.objects.filter(pk=endpoint.pk).update(rollout_run=None)
    live = ds_client.get(f"/deployments/{endpoint.pk}/live/").content.decode()
    assert "Last rollout" in live and "hx-trigger" not in live
    assert "<td>40</td><td>0</td><td>0.0%</td><td>5 ms</td>" in live and "Healthy: error rate 0.0%" in live


def _chart(page, chart_id):
    import json

    return json.loads(page.split(f'<script id="{chart_id}" type="application/json">', 1)[1].split("</script>", 1)[0])


def test_the_last_hours_charts_span_the_hour_and_refresh_while_the_endpoint_serves(ds_client, team):
    endpoint = make_endpoint(team, "charted")
    _traffic(endpoint, "a", 5)

    page = ds_client.get(f"/deployments/{endpoint.pk}/").content.decode()
    requests = _chart(page, "chart-requests")
    assert requests["data"][0]["y"] == [5]
    start, end = (timezone.datetime.fromisoformat(t) for t in requests["layout"]["xaxis"]["range"])
    assert timezone.timedelta(minutes=60) <= end - start <= timezone.timedelta(minutes=62)  # the hour, not one point's
    assert f'hx-get="/deployments/{endpoint.pk}/charts/" hx-trigger="every 60s"' in page

    _traffic(endpoint, "a", 2)  # the same minute: the refreshed chart counts both
    partial = ds_client.get(f"/deployments/{endpoint.pk}/charts/").content.decode()
    assert _chart(partial, "chart-requests")["data"][0]["y"] == [7] and "<html" not in partial

    Endpoint.objects.filter(pk=endpoint.pk).update(state="deleted")  # nothing serves: nothing to refresh
    assert "hx-trigger" not in ds_client.get(f"/deployments/{endpoint.pk}/charts/").content.decode()
