from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from . import services
from .models import ApiToken


@never_cache  # it may show a new key once: no copy in any cache (Cache-Control: no-store)
@login_required
def token_list(request):
    tokens = request.user.api_tokens.all()
    return render(request, "accounts/tokens.html", {"tokens": tokens, "new_key": request.session.pop("new_key", None)})


@login_required
@require_POST
def token_create(request):
    _, key = services.api_token_create(user=request.user, name=request.POST.get("name", ""))
    # Shown once on the next page, then gone: only its hash is stored.
    request.session["new_key"] = key
    return redirect("accounts:tokens")


@login_required
@require_POST
def token_revoke(request, pk):
    try:
        services.api_token_revoke(user=request.user, token_id=pk)
    except ApiToken.DoesNotExist:
        raise Http404("No such token.") from None
    messages.info(request, "Token revoked.")
    return redirect("accounts:tokens")
