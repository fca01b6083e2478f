"""Cron and capture-volume schedules: the next firing of an expression (cron(5)'s rules),
due-ness and the window a firing evaluates, a bad expression refused with a readable 400
and nothing saved, and a capture-volume monitor firing on rows the gateway's own writer
captured, counted from the store's listing and footers."""

import time
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.monitoring import compute, services
from apps.monitoring.models import Monitor, ReportStatus
from apps.monitoring.schedules import CronError, cron_parse
from tests.monitoring.conftest import frame

FRIDAY = datetime(2026, 12, 4, 18, 35, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("0 6 * * 1-5", FRIDAY, datetime(2026, 12, 7, 6, 0, tzinfo=UTC)),  # weekdays: Monday next
        ("*/15 * * * *", FRIDAY, datetime(2026, 12, 4, 18, 45, tzinfo=UTC)),
        ("30 18 * * *", datetime(2026, 12, 4, 18, 30, tzinfo=UTC), datetime(2026, 12, 5, 18, 30, tzinfo=UTC)),
        ("0 0 1 jan *", FRIDAY, datetime(2027, 1, 1, tzinfo=UTC)),  # month names
        ("0 0 29 2 *", FRIDAY, datetime(2028, 2, 29, tzinfo=UTC)),  # the next leap day
        ("0 12 * * 7", FRIDAY, datetime(2026, 12, 6, 12, 0, tzinfo=UTC)),  # 7 is Sunday too
        ("0 12 * * sun", FRIDAY, datetime(2026, 12, 6, 12, 0, tzinfo=UTC)),
        # both day fields restricted: either fires (cron(5)), so Friday the 11th before Sunday the 13th
        ("0 0 13 * 5", FRIDAY, datetime(2026, 12, 11, tzinfo=UTC)),
        ("0 9-17/4 * * *", FRIDAY, datetime(2026, 12, 5, 9, 0, tzinfo=UTC)),
    ],
)
def test_next_firing_follows_cron(expression, after, expected):
    cron = cron_parse(expression)
    assert cron.next_after(after) == expected
    assert cron.previous_before(expected) < expected <= cron.next_after(cron.previous_before(expected))


def test_a_firing_evaluates_the_time_since_the_previous_firing():
    cron = cron_parse("0 6 * * 1-5")
    monday = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
    # claimed 40 s late, Monday's firing covers Friday 06:00 to Monday 06:00
    assert cron.window(due_at=monday, now=monday + timedelta(seconds=40)) == (monday - timedelta(days=3), monday)
    # the beat was down all Monday: the window is the latest firing's, not Monday's again
    tuesday = monday + timedelta(days=1)
    assert cron.window(due_at=monday, now=tuesday + timedelta(hours=2)) == (monday, tuesday)
    # "evaluate now" at 10:00 on Monday: since the previous firing, up to now
    asked = monday + timedelta(hours=4)
    assert cron.window(due_at=asked, now=asked + timedelta(seconds=5)) == (monday, asked)


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("75 * * * *", "minute field “75” is not valid: a value is outside 0–59"),
        ("0 6 * *", "has 5 fields"),
        ("*/0 * * * *", "a step is a whole number above 0"),
        ("0 0 30 2 *", "never fires"),
        ("0 25 * * *", "hour field “25”"),
        ("0 6 * * funday", "day of the week field “funday”"),
    ],
)
def test_a_bad_cron_says_what_is_wrong(expression, words):
    with pytest.raises(CronError) as raised:
        cron_parse(expression)
    assert words in str(raised.value)


@pytest.mark.django_db
def test_bad_cron_is_a_readable_400_and_nothing_is_saved(api, datasets, client, ds):
    reference = datasets("train.parquet", frame(40))
    body = {"name": "nightly", "dataset": reference, "reference": {"dataset": reference}, "schedule": "cron"}
    for cron, words in [("", "5 fields"), ("0 25 * * *", "hour field “25” is not valid"), ("0 6 * *", "has 4")]:
        response = api.post("/api/v1/monitors/", {**body, "cron": cron}, format="json")
        assert response.status_code == 400 and words in response.json()["cron"][0], response.content
    # a volume schedule needs an endpoint and a row count
    response = api.post("/api/v1/monitors/", {**body, "schedule": "volume"}, format="json")
    assert response.status_code == 400 and {"schedule", "volume_rows"} <= set(response.json())
    assert not Monitor.objects.exists() and not AuditEvent.objects.filter(action="monitor.create").exists()

    client.force_login(ds)
    form = {
        "name": "form cron",
        "dataset": reference,
        "reference_dataset": reference,
        "window_hours": 24,
        "schedule": "cron",
        "cron": "61 * * * *",
        "alert_feature_windows": 3,
    }
    page = client.post("/monitoring/new/", form)
    assert page.status_code == 400 and "minute field “61” is not valid" in page.content.decode()
    assert not Monitor.objects.exists()

    # a daily monitor changed to a bad cron keeps its schedule
    pk = api.post("/api/v1/monitors/", {**body, "schedule": "daily"}, format="json").json()["id"]
    bad = api.patch(f"/api/v1/monitors/{pk}/", {"schedule": "cron", "cron": "0 6 * * 9"}, format="json")
    assert bad.status_code == 400 and "day of the week field “9”" in bad.json()["cron"][0]
    assert Monitor.objects.get(pk=pk).schedule == "daily"
    assert api.patch(f"/api/v1/monitors/{pk}/", {"cron": "0 6 * * *"}, format="json").status_code == 400


@pytest.mark.django_db
def test_a_cron_monitor_is_due_at_its_firings_and_evaluates_since_the_previous_one(api, datasets, client, ds):
    reference = datasets("train.parquet", frame(200))
    current = datasets("scored.parquet", frame(200, shift=2))
    created = api.post(
        "/api/v1/monitors/",
        {
            "name": "every 6 hours",
            "dataset": current,
            "reference": {"dataset": reference},
            "schedule": "cron",
            "cron": " 0  */6 * * * ",
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["cron"] == "0 */6 * * *"  # stored as typed, spaces normalised
    pk = created.json()["id"]

    now = timezone.now()
    (first,) = compute.monitors_claim_due(now=now)  # a new monitor's first window is due at once
    hour = now.replace(minute=0, second=0, microsecond=0)
    previous = hour - timedelta(hours=hour.hour % 6)
    assert first.monitor_id == pk and first.start == previous and first.end >= now - timedelta(minutes=1)
    following = previous + timedelta(hours=6)
    monitor = Monitor.objects.get(pk=pk)
    assert monitor.next_due_at == following
    assert compute.monitors_claim_due(now=now) == []  # not due again before its firing

    (second,) = compute.monitors_claim_due(now=following + timedelta(seconds=30))
    assert (second.start, second.end) == (previous, following)
    assert Monitor.objects.get(pk=pk).next_due_at == following + timedelta(hours=6)
    report = compute.monitor_evaluate(monitor_id=pk, start=second.start, end=second.end)
    assert report.status == ReportStatus.SUCCEEDED and (report.window_start, report.window_end) == (previous, following)

    client.force_login(ds)
    page = client.get(f"/monitoring/{pk}/").content.decode()
    assert "since the previous firing, on cron “0 */6 * * *” (UTC)" in page
    assert f"next {(following + timedelta(hours=6)):%Y-%m-%d %H:%M} UTC" in page

    # moving a monitor onto cron makes it due at the expression's next firing, not at once
    changed = api.patch(f"/api/v1/monitors/{pk}/", {"schedule": "hourly"}, format="json")
    assert changed.status_code == 200 and changed.json()["cron"] == ""
    back = api.patch(f"/api/v1/monitors/{pk}/", {"schedule": "cron", "cron": "30 2 * * *"}, format="json").json()
    assert datetime.fromisoformat(back["next_due_at"]).strftime("%H:%M") == "02:30"


@pytest.fixture
def endpoint(team, ds):
    from apps.deployments.models import Endpoint, EndpointState

    return Endpoint.objects.create(
        team=team, backend="local", source="local", name="loans", state=EndpointState.IN_SERVICE, created_by=ds
    )


@pytest.mark.django_db
def test_a_capture_volume_monitor_fires_on_new_captured_rows(api, endpoint, capture, client, ds, monkeypatch):
    from apps.gateway.capture_store import LocalStore

    capture(endpoint.name, frame(500), at=time.time() - 2 * 86400)  # the reference: traffic as trained
    start = (timezone.now() - timedelta(days=3)).isoformat()
    end = (timezone.now() - timedelta(days=1)).isoformat()
    created = api.post(
        "/api/v1/monitors/",
        {
            "name": "per 600 rows",
            "endpoint": "loans",
            "reference": {"start": start, "end": end},
            "schedule": "volume",
            "volume_rows": 600,
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    assert created.json()["next_due_at"] is None and compute.monitors_claim_due() == []  # not by time

    # counting reads listings and footers only: a file's rows are never read for it
    def no_rows(*args, **kwargs):
        raise AssertionError("counting captured rows read a capture file's rows")

    capture(endpoint.name, frame(400, shift=1.5, new_city=True), at=time.time(), per_request=10)
    with monkeypatch.context() as patched:
        patched.setattr(LocalStore, "read", no_rows)
        assert compute.volume_claim_due(now=timezone.now() + timedelta(seconds=2)) == []
        assert Monitor.objects.get(pk=pk).volume_seen == 400  # input rows (40 requests of 10)
        assert compute.volume_claim_due(now=timezone.now() + timedelta(seconds=2)) == []  # no file counted twice
        assert Monitor.objects.get(pk=pk).volume_seen == 400

    client.force_login(ds)
    page = client.get(f"/monitoring/{pk}/").content.decode()
    assert "once 600 new input rows are captured" in page and "next when 600 rows are in: 400 so far" in page

    capture(endpoint.name, frame(300, shift=1.5, new_city=True, seed=8), at=time.time(), per_request=30)
    since = Monitor.objects.get(pk=pk).volume_since
    fired_at = timezone.now() + timedelta(seconds=2)
    with monkeypatch.context() as patched:
        patched.setattr(LocalStore, "read", no_rows)
        (claim,) = compute.volume_claim_due(now=fired_at)
    monitor = Monitor.objects.get(pk=pk)
    assert (claim.start, claim.end) == (since, fired_at)
    assert monitor.volume_seen == 0 and monitor.volume_since == fired_at  # the next window counts from here

    report = compute.monitor_evaluate(monitor_id=pk, start=claim.start, end=claim.end)
    assert report.status == ReportStatus.SUCCEEDED, report.message
    assert (report.rows_reference, report.rows_current) == (500, 700)  # exactly the rows since the last window
    assert report.dataset_drift and report.column_results.get(column="city").new_categories == ["Accra"]

    # "Evaluate a window now" on a volume monitor: the rows since the last window, and the count starts again
    capture(endpoint.name, frame(50, shift=1.5, seed=9), at=time.time() + 3)
    compute.volume_claim_due(now=timezone.now() + timedelta(seconds=5))
    assert Monitor.objects.get(pk=pk).volume_seen == 50
    services.monitor_evaluate_now(user=ds, monitor=Monitor.objects.get(pk=pk))
    asked_at = timezone.now() + timedelta(seconds=6)
    (asked,) = compute.monitors_claim_due(now=asked_at)
    assert (asked.start, asked.end) == (fired_at, asked_at)
    monitor = Monitor.objects.get(pk=pk)
    assert monitor.next_due_at is None and monitor.volume_seen == 0 and monitor.volume_since == asked_at
    assert compute.monitor_evaluate(monitor_id=pk, start=asked.start, end=asked.end).rows_current == 50
