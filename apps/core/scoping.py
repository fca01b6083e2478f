"""Team scoping, the one rule for what a person may see of what teams own."""

from django.db.models import QuerySet


def team_scoped(queryset: QuerySet, *, user, team_field: str = "team") -> QuerySet:
    """Everything a team owns is visible only to its members (admins see all)."""
    if user.is_portal_admin:
        return queryset
    return queryset.filter(**{f"{team_field}__in": user.teams.all()})
