"""Login throttling with django-axes: one policy for /login/, /admin/login/
and the API token endpoint (settings: AXES_*). Failures are counted per
account and address, so a guesser from one address cannot lock the real user
out from theirs; a lockout ends after the cool-off."""

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_cool_off
from django.http import JsonResponse
from django.shortcuts import render

MESSAGE = "Too many failed logins for this account from your address. Try again in {minutes} minutes."


class LoginAttemptsBackend(AxesStandaloneBackend):
    """Axes' gate for every authenticate() that comes with a request (the login
    views, the admin and the token endpoint all pass one). Calls without a
    request (``Client.login`` in tests, management commands) are not web logins
    and go straight to the next backend instead of failing."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def lockout_response(request, original_response=None, credentials=None):
    """AXES_LOCKOUT_CALLABLE: JSON for API clients, a page for people; both 429."""
    cool_off = get_cool_off(request)
    minutes = max(1, round(cool_off.total_seconds() / 60)) if cool_off else 15
    message = MESSAGE.format(minutes=minutes)
    if request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", ""):
        return JsonResponse({"detail": message}, status=429, headers={"Retry-After": str(minutes * 60)})
    response = render(request, "registration/locked_out.html", {"message": message}, status=429)
    response["Retry-After"] = str(minutes * 60)
    return response


def audit_lockout(sender, request=None, username=None, ip_address=None, **kwargs):
    """Axes keeps its own records (AccessAttempt, AccessLog); a lockout of a
    real account also goes to the portal's audit trail."""
    from apps.audit.services import audit_record

    from .models import User

    user = User.objects.filter(username=username).first() if username else None
    if user is not None:
        audit_record(actor=user, action="login.locked_out", target=user, data={"ip_address": ip_address or ""})
