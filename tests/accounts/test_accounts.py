import pytest

from apps.accounts.models import ApiToken, Role, User
from apps.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_login_and_logout(client, ds):
    response = client.post("/login/", {"username": "ds", "password": "pw-Secret-123"})
    assert response.status_code == 302
    assert client.get("/runs/").status_code == 200
    client.post("/logout/")
    assert client.get("/runs/").status_code == 302


def test_wrong_password_is_refused(client, ds):
    response = client.post("/login/", {"username": "ds", "password": "wrong"})
    assert response.status_code == 200 and b"Wrong username or password" in response.content


def test_roles_are_groups_with_permissions(make_user):
    ds = make_user("d")
    manager = make_user("m", role=Role.MANAGER)
    approver = make_user("a", role=Role.APPROVER)
    assert ds.has_perm("runs.add_run") and ds.has_perm("runs.change_run")
    assert not manager.has_perm("runs.add_run") and manager.has_perm("runs.view_run")
    assert not approver.has_perm("runs.add_run")


def test_a_user_can_be_in_several_teams(make_user, team, other_team):
    user = make_user("both", teams=[team, other_team])
    assert set(user.teams.all()) == {team, other_team}


def test_token_page_shows_a_new_key_once_and_revokes(client, ds):
    client.force_login(ds)
    response = client.post("/account/tokens/new/", {"name": "laptop"}, follow=True)
    key = response.context["new_key"]
    assert key.startswith("atr_") and key in response.content.decode()
    again = client.get("/account/tokens/").content.decode()
    assert key not in again and key[:12] in again  # only the prefix, from now on
    token = ApiToken.objects.get(user=ds)
    client.post(f"/account/tokens/{token.pk}/revoke/")
    assert not ApiToken.objects.exists()
    trail = list(AuditEvent.objects.order_by("id").values_list("actor_name", "action", "data"))
    assert trail == [("ds", "token.create", {"prefix": key[:12]}), ("ds", "token.revoke", {"prefix": key[:12]})]


def test_nobody_revokes_someone_elses_token(client, ds, make_user):
    from apps.accounts.services import api_token_create

    token, _ = api_token_create(user=ds)
    client.force_login(make_user("mallory"))
    client.post(f"/account/tokens/{token.pk}/revoke/")
    assert ApiToken.objects.filter(pk=token.pk).exists()
    assert not AuditEvent.objects.filter(action="token.revoke").exists()


def test_seed_demo_creates_the_five_demo_users(monkeypatch):
    from django.core.management import call_command

    monkeypatch.setenv("DEMO_PASSWORD", "demo-pass-1")
    call_command("seed_demo")
    call_command("seed_demo")  # idempotent
    users = {u.username: u for u in User.objects.all()}
    assert set(users) == {"ds", "approver", "approver2", "manager", "admin"}
    assert users["ds"].check_password("demo-pass-1")
    assert users["ds"].has_perm("runs.add_run") and not users["manager"].has_perm("runs.add_run")
    assert users["admin"].is_portal_admin and users["admin"].is_staff
    assert all(u.teams.filter(slug="demo").exists() for u in users.values())
