"""The endpoint page's keys panel (``templates/gateway/_keys.html``): loaded by
htmx from the endpoint page, a page of its own without JavaScript."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist
from django.http import Http404
from django.shortcuts import redirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from apps.core.errors import DomainError
from apps.core.htmx import domain_error_message, render_page_or_partial
from apps.deployments.selectors import endpoint_get

from . import selectors, services


def _endpoint(request, endpoint_id):
    try:
        return endpoint_get(user=request.user, pk=endpoint_id)
    except ObjectDoesNotExist:
        raise Http404("No such endpoint.") from None


def _panel(request, endpoint, *, new_key=None, error=""):
    context = {
        "endpoint": endpoint,
        "keys": selectors.api_key_list(endpoint=endpoint),
        "can_manage": services.keys_manageable(user=request.user, endpoint=endpoint),
        "new_key": new_key or request.session.pop("gateway_new_key", None),
        "error": error,
    }
    return render_page_or_partial(request, page="gateway/keys.html", partial="gateway/_keys.html", context=context)


@never_cache  # it may show a new key once: no copy in any cache (Cache-Control: no-store)
@login_required
def keys(request, endpoint_id):
    return _panel(request, _endpoint(request, endpoint_id))


@never_cache
@login_required
@require_POST
def key_create(request, endpoint_id):
    endpoint = _endpoint(request, endpoint_id)
    try:
        rate = int(request.POST.get("rate_limit_per_minute") or services.DEFAULT_RATE_PER_MINUTE)
    except ValueError:
        rate = 0  # the service says what is wrong
    try:
        _, key = services.api_key_create(
            user=request.user, endpoint=endpoint, consumer=request.POST.get("consumer", ""), rate_limit_per_minute=rate
        )
    except DomainError as error:
        if not request.htmx:
            messages.error(request, domain_error_message(error))
            return redirect("gateway:keys", endpoint_id=endpoint.pk)
        return _panel(request, endpoint, error=domain_error_message(error))
    if request.htmx:
        return _panel(request, endpoint, new_key=key)
    request.session["gateway_new_key"] = key  # shown once on the next page, then gone
    return redirect("gateway:keys", endpoint_id=endpoint.pk)


@never_cache
@login_required
@require_POST
def key_revoke(request, endpoint_id, key_id):
    endpoint = _endpoint(request, endpoint_id)
    try:
        services.api_key_revoke(user=request.user, endpoint=endpoint, key_id=key_id)
    except ObjectDoesNotExist:
        raise Http404("No such key.") from None
    if request.htmx:
        return _panel(request, endpoint)
    messages.info(request, "Key revoked.")
    return redirect("gateway:keys", endpoint_id=endpoint.pk)
