import secrets

from django.contrib.auth.models import Group
from django.db import transaction
from django.utils.text import slugify

from apps.audit.services import audit_record

from .models import ApiToken, Membership, Role, Team, User


def api_token_create(*, user: User, name: str = "") -> tuple[ApiToken, str]:
    """Returns the token row and the clear key, which is never stored."""
    key = "atr_" + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(user=user, name=name[:100], prefix=key[:12], key_hash=ApiToken.hash_key(key))
        audit_record(actor=user, action="token.create", target=token, data={"prefix": token.prefix})
    return token, key


@transaction.atomic
def api_token_revoke(*, user: User, token_id) -> None:
    """Raises ApiToken.DoesNotExist for a token that is not the user's (or gone)."""
    token = ApiToken.objects.select_for_update().get(user=user, pk=token_id)
    audit_record(actor=user, action="token.revoke", target=token, data={"prefix": token.prefix})
    token.delete()


def team_get_or_create(*, name: str) -> Team:
    team, _ = Team.objects.get_or_create(slug=slugify(name), defaults={"name": name})
    return team


@transaction.atomic
def user_create(*, username: str, password: str, role: Role, teams: list[Team], email: str = "") -> User:
    user = User.objects.create_user(username=username, password=password, email=email)
    user.groups.add(Group.objects.get(name=role))
    Membership.objects.bulk_create([Membership(user=user, team=team) for team in teams])
    return user
