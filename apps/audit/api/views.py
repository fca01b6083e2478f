from rest_framework import mixins, viewsets

from .. import selectors
from ..forms import AuditFilterForm
from ..models import AuditEvent
from .serializers import AuditEventSerializer


class AuditEventViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The audit trail, newest first: the whole of it for admins, the
    caller's teams' part for managers and approvers. Filters: ?action=&actor=&target="""

    serializer_class = AuditEventSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return AuditEvent.objects.none()
        form = AuditFilterForm(self.request.query_params)
        return selectors.audit_list(user=self.request.user, filters=form.filters())
