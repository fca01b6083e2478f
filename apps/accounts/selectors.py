from django.db.models import QuerySet

from apps.core.scoping import team_scoped  # noqa: F401 - where apps have always found it

from .models import Team, User


def user_teams(*, user: User) -> QuerySet[Team]:
    return Team.objects.all() if user.is_portal_admin else user.teams.all()
