from django.db.models import QuerySet

from apps.accounts.models import Team, User

from .models import Connection

# The one answer for a connection a team may not use, whether or not the name
# exists: a caller learns nothing about other teams' connections.
CONNECTION_REFUSED = "That connection is not available to your team, or does not exist."


def connections_for(*, user: User) -> QuerySet[Connection]:
    """The connections any of the user's teams may use (admins: all)."""
    connections = Connection.objects.all()
    if not user.is_portal_admin:
        connections = connections.filter(teams__in=user.teams.all()).distinct()
    return connections


def connection_allowed(*, connection: Connection, team: Team) -> bool:
    return connection.teams.filter(pk=team.pk).exists()
