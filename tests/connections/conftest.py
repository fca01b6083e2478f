import pytest

from apps.accounts.models import Role


@pytest.fixture
def admin(make_user):
    """An admin in no team: connections are granted to teams, admins manage them all."""
    return make_user("root", role=Role.ADMIN, teams=[])
