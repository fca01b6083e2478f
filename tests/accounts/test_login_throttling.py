"""Password guessing is throttled the same way on /login/, /admin/login/ and the
API token endpoint (django-axes: per account + address, with a cool-off), and
forwarded headers are trusted only from configured proxies (issue 15, items 4-5)."""

import pytest
from django.utils import timezone

from apps.accounts.models import ApiToken
from apps.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

LIMIT = 3


@pytest.fixture(autouse=True)
def _small_limit(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT


def login_form(client, password, ip="10.0.0.1", path="/login/", **headers):
    return client.post(path, {"username": "ds", "password": password}, REMOTE_ADDR=ip, **headers)


def token(client, password, ip="10.0.0.1", username="ds", **headers):
    return client.post(
        "/api/v1/auth/token/",
        {"username": username, "password": password},
        content_type="application/json",
        REMOTE_ADDR=ip,
        **headers,
    )


@pytest.mark.parametrize("path", ["/login/", "/admin/login/"])
def test_the_login_pages_lock_an_account_after_the_limit(client, ds, path):
    statuses = [login_form(client, "wrong", path=path).status_code for _ in range(LIMIT)]
    assert statuses == [200] * (LIMIT - 1) + [429]  # the attempt that reaches the limit is refused
    response = login_form(client, "pw-Secret-123", path=path)  # the right password, too late
    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_lockout_is_per_account_and_address(client, ds):
    for _ in range(LIMIT):
        login_form(client, "wrong", ip="10.0.0.66")
    assert login_form(client, "pw-Secret-123", ip="10.0.0.66").status_code == 429
    # The real user, from their own address, still gets in.
    assert login_form(client, "pw-Secret-123", ip="10.0.0.1").status_code == 302


def test_the_lockout_ends_after_the_cool_off(client, ds, settings):
    from axes.models import AccessAttempt

    for _ in range(LIMIT):
        login_form(client, "wrong")
    assert login_form(client, "pw-Secret-123").status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME * 2)
    assert login_form(client, "pw-Secret-123").status_code == 302


def test_the_token_endpoint_shares_the_policy_and_answers_json(client, ds):
    statuses = [token(client, "wrong").status_code for _ in range(LIMIT)]
    assert statuses == [400] * (LIMIT - 1) + [429]
    response = token(client, "pw-Secret-123")
    assert response.status_code == 429
    assert "Too many failed logins" in response.json()["detail"]
    assert not ApiToken.objects.exists()
    # The same account is locked on the login page too, from that address.
    assert login_form(client, "pw-Secret-123").status_code == 429


def test_a_lockout_is_audited(client, ds):
    for _ in range(LIMIT):
        login_form(client, "wrong", ip="10.0.0.9")
    event = AuditEvent.objects.get(action="login.locked_out")
    assert event.actor_name == "ds" and event.data["ip_address"] == "10.0.0.9"


def test_forwarded_for_is_not_trusted_without_a_proxy(client, ds, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"login": "5/min", "login_account": "1000/min"},
    }
    statuses = [
        token(client, "wrong", username=f"nobody{i}", HTTP_X_FORWARDED_FOR=f"198.51.100.{i}").status_code
        for i in range(8)
    ]
    assert statuses[:5] == [400] * 5 and statuses[5:] == [429] * 3


def test_the_token_endpoint_is_throttled_per_account_across_addresses(client, ds, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"login": "1000/min", "login_account": "4/min"},
    }
    settings.AXES_FAILURE_LIMIT = 1000
    statuses = [token(client, "wrong", ip=f"10.1.0.{i}").status_code for i in range(6)]
    assert statuses[:4] == [400] * 4 and statuses[4:] == [429] * 2
    assert token(client, "wrong", ip="10.1.0.99", username="someone-else").status_code == 400


def test_behind_one_proxy_the_forwarded_address_counts(client, ds, settings):
    from apps.core.net import client_ip

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    settings.NUM_PROXIES = 1

    class Request:
        META = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "1.2.3.4, 203.0.113.7"}

    assert client_ip(Request) == "203.0.113.7"  # what our proxy saw; the left part is the client's word
    settings.NUM_PROXIES = 0
    assert client_ip(Request) == "127.0.0.1"


def test_force_login_and_login_still_work(client, ds):
    assert client.login(username="ds", password="pw-Secret-123")
    client.logout()
    client.force_login(ds)
    assert client.get("/runs/").status_code == 200


def test_revoking_someone_elses_token_is_404(client, ds, make_user):
    from apps.accounts.services import api_token_create

    token, _ = api_token_create(user=ds)
    client.force_login(make_user("mallory"))
    response = client.post(f"/account/tokens/{token.pk}/revoke/")
    assert response.status_code == 404
    assert ApiToken.objects.filter(pk=token.pk).exists()
    assert not AuditEvent.objects.filter(action="token.revoke").exists()
