from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from apps.core.errors import InvalidInput

from . import services
from .forms import ConnectionForm
from .models import Connection


def _admin_only(request):
    if not request.user.is_portal_admin:
        raise PermissionDenied("Only admins manage connections.")


@login_required
def connection_list(request):
    _admin_only(request)
    connections = Connection.objects.prefetch_related("teams")
    return render(request, "connections/list.html", {"connections": connections, "kinds": Connection.Kind.choices})


@login_required
def connection_new(request, kind: str):
    _admin_only(request)
    if kind not in Connection.Kind.values:
        raise Http404
    form = ConnectionForm(request.POST or None, kind=kind)
    if request.method == "POST" and form.is_valid():
        config, secrets = form.split()
        try:
            connection = services.connection_create(
                user=request.user,
                name=form.cleaned_data["name"],
                kind=kind,
                config=config,
                secrets=secrets,
                teams=list(form.cleaned_data["teams"]),
            )
        except InvalidInput as exc:
            form.add_service_errors(exc.errors)
        else:
            messages.info(request, f"Connection {connection.name} saved.")
            return redirect("connections:edit", pk=connection.pk)
    return render(request, "connections/form.html", {"form": form, "kind": kind}, status=400 if form.errors else 200)


@login_required
def connection_edit(request, pk):
    _admin_only(request)
    connection = get_object_or_404(Connection, pk=pk)
    config = {k: ", ".join(v) if isinstance(v, list) else v for k, v in connection.config.items()}
    initial = {"name": connection.name, "teams": connection.teams.all(), **config}
    form = ConnectionForm(request.POST or None, kind=connection.kind, connection=connection, initial=initial)
    if request.method == "POST" and form.is_valid():
        config, secrets = form.split()
        try:
            services.connection_update(
                user=request.user,
                connection=connection,
                config=config,
                secrets=secrets,
                teams=list(form.cleaned_data["teams"]),
            )
        except InvalidInput as exc:
            form.add_service_errors(exc.errors)
        else:
            messages.info(request, "Saved.")
            return redirect("connections:edit", pk=connection.pk)
    context = {"form": form, "kind": connection.kind, "connection": connection}
    return render(request, "connections/form.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def connection_test(request, pk):
    _admin_only(request)
    connection = get_object_or_404(Connection, pk=pk)
    services.connection_test(user=request.user, connection=connection)
    return redirect("connections:edit", pk=connection.pk)
