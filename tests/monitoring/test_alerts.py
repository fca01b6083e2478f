"""Alert rules on a monitor's windows: opened once while the condition holds (however
many windows drift), resolved by the first window back within the thresholds, the team
told in the portal each time."""

import pytest

from apps.monitoring import compute
from apps.monitoring.models import AlertRule, DriftAlert
from apps.monitoring.services import monitor_create
from apps.notifications.models import Notification
from tests.monitoring.conftest import api_for, frame

pytestmark = pytest.mark.django_db


@pytest.fixture
def watched(ds, datasets, make_user, team):
    """A dataset monitor whose current file the test rewrites between windows."""
    reference = datasets("train.parquet", frame(400))
    current = datasets("current.parquet", frame(400, seed=8))
    monitor = monitor_create(user=ds, name="loans", dataset=current, reference=reference, alert_feature_windows=2)
    from pathlib import Path

    from django.conf import settings

    path = Path(settings.DATA_ROOT) / current

    def window(data):
        data.to_parquet(path, index=False)
        return compute.monitor_evaluate(monitor_id=monitor.pk)

    return monitor, window


def alerts(monitor, **filters):
    return list(DriftAlert.objects.filter(monitor=monitor, **filters).order_by("created_at"))


def test_dataset_drift_opens_one_alert_and_a_calm_window_resolves_it(watched, ds, manager):
    monitor, window = watched
    assert window(frame(400, seed=9)).dataset_drift is False
    assert not alerts(monitor)

    drifting = frame(400, shift=2, new_city=True)
    assert window(drifting).dataset_drift is True
    assert window(drifting).dataset_drift is True  # a second drifting window: the same alert
    (alert,) = alerts(monitor, rule=AlertRule.DATASET_DRIFT)
    assert alert.is_open and alert.windows == 2 and "features drifted" in alert.message
    told = Notification.objects.filter(message__startswith="Drift alert on loans: the dataset drifted")
    assert sorted(told.values_list("user__username", flat=True)) == sorted([ds.username, manager.username])
    assert told.get(user=ds).url == monitor.get_absolute_url()

    window(frame(400, seed=10))
    alert.refresh_from_db()
    assert not alert.is_open
    assert (
        Notification.objects.filter(user=ds, message__startswith="Resolved on loans: the dataset drifted").count() == 1
    )
    # the next drift is a new alert
    window(drifting)
    assert [a.is_open for a in alerts(monitor, rule=AlertRule.DATASET_DRIFT)] == [False, True]


def test_a_feature_drifting_n_windows_in_a_row_alerts_once(watched):
    monitor, window = watched
    moved = frame(400, shift=1.5, seed=11)  # income moves: one feature of three, no dataset drift
    first = window(moved)
    assert first.column_results.get(column="income").drifted and not first.dataset_drift
    assert not alerts(monitor)  # one window is not a streak (2 here)
    window(frame(400, shift=1.5, seed=12))
    (alert,) = alerts(monitor, rule=AlertRule.FEATURE_STREAK)
    assert alert.column == "income" and alert.message == "income drifted 2 windows in a row."
    window(frame(400, shift=1.5, seed=13))
    (alert,) = alerts(monitor, rule=AlertRule.FEATURE_STREAK)
    assert alert.is_open and alert.windows == 2
    window(frame(400, seed=14))
    alert.refresh_from_db()
    assert not alert.is_open


def test_alerts_are_read_through_the_api_by_the_team_only(watched, api, make_user, other_team):
    monitor, window = watched
    window(frame(400, shift=2, new_city=True))
    listed = api.get(f"/api/v1/monitors/{monitor.pk}/alerts/").json()
    assert listed["count"] == 1 and listed["results"][0]["rule"] == "dataset_drift" and listed["results"][0]["open"]
    outsider = api_for(make_user("outsider", teams=[other_team]))
    assert outsider.get(f"/api/v1/monitors/{monitor.pk}/alerts/").status_code == 404
