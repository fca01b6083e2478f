from django.db.models import Prefetch
from rest_framework import mixins, viewsets

from apps.accounts.models import Team

from ..models import Connection
from ..selectors import connections_for
from .serializers import ConnectionSerializer


class ConnectionViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The connections the caller's teams may run on (admins: all): name, kind,
    the caller's teams it is shared with, and how its last check went. Use the
    name as ``connection`` when creating a run or launching a template."""

    serializer_class = ConnectionSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Connection.objects.none()
        user = self.request.user
        teams = Team.objects.all() if user.is_portal_admin else user.teams.all()
        return connections_for(user=user).prefetch_related(Prefetch("teams", queryset=teams)).order_by("name")
