from django.db.models import QuerySet

from .models import Team, User


def user_teams(*, user: User) -> QuerySet[Team]:
    return Team.objects.all() if user.is_portal_admin else user.teams.all()


def team_scoped(queryset: QuerySet, *, user: User, team_field: str = "team") -> QuerySet:
    """Everything a team owns is visible only to its members (admins see all)."""
    if user.is_portal_admin:
        return queryset
    return queryset.filter(**{f"{team_field}__in": user.teams.all()})
