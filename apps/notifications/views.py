from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from . import selectors, services


@login_required
def notification_list(request):
    page = Paginator(selectors.notification_list(user=request.user), 50).get_page(request.GET.get("page"))
    return render(request, "notifications/list.html", {"page": page})


@require_POST
@login_required
def notification_read_all(request):
    services.notifications_mark_read(user=request.user)
    return redirect("notifications:list")
