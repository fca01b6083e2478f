"""Team scoping, the one rule for what a person may see of what teams own."""

from django.db.models import QuerySet


def user_team_ids(user) -> list:
    """The ids of the person's teams, as a list (one small query). Filtering on
    ``team_id IN (<ids>)`` rather than on a subquery lets the database walk an
    index on (team, <order>) and stop after a page: with a subquery, SQLite
    read and sorted every visible row (Runs with 10,000 rows: 43 ms -> 2 ms)."""
    return list(user.teams.values_list("id", flat=True))


def team_scoped(queryset: QuerySet, *, user, team_field: str = "team") -> QuerySet:
    """Everything a team owns is visible only to its members (admins see all)."""
    if user.is_portal_admin:
        return queryset
    return queryset.filter(**{f"{team_field}__in": user_team_ids(user)})
