import secrets

from django.contrib.auth.models import Group
from django.db import transaction
from django.utils.text import slugify

from .models import ApiToken, Membership, Role, Team, User


def api_token_create(*, user: User, name: str = "") -> tuple[ApiToken, str]:
    """Returns the token row and the clear key, which is never stored."""
    key = "atr_" + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name[:100], prefix=key[:12], key_hash=ApiToken.hash_key(key))
    return token, key


def api_token_revoke(*, user: User, token_id) -> None:
    ApiToken.objects.filter(user=user, pk=token_id).delete()


def team_get_or_create(*, name: str) -> Team:
    team, _ = Team.objects.get_or_create(slug=slugify(name), defaults={"name": name})
    return team


@transaction.atomic
def user_create(*, username: str, password: str, role: Role, teams: list[Team], email: str = "") -> User:
    user = User.objects.create_user(username=username, password=password, email=email)
    user.groups.add(Group.objects.get(name=role))
    Membership.objects.bulk_create([Membership(user=user, team=team) for team in teams])
    return user
