from django.db.models import QuerySet

from apps.accounts.models import Team, User

from .models import Connection


def connections_for(*, user: User) -> QuerySet[Connection]:
    """The connections any of the user's teams may use (admins: all)."""
    connections = Connection.objects.all()
    if not user.is_portal_admin:
        connections = connections.filter(teams__in=user.teams.all()).distinct()
    return connections


def connection_allowed(*, connection: Connection, team: Team) -> bool:
    return connection.teams.filter(pk=team.pk).exists()
