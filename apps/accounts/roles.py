"""Role -> permissions. Groups are (re)synced after every migrate, so adding a
permission here is all it takes to grant it."""

from django.contrib.auth.models import Group, Permission

from .models import Role

# Everyone reads their teams' runs and models; data scientists and admins
# start runs, and set aliases and tags on models and archive versions; those
# who oversee (approvers, managers, admins) read the audit trail.
_READ = [
    "runs.view_run",
    "registry.view_registeredmodel",
    "deployments.view_endpoint",
    "approvals.view_promotionrequest",
    "costs.view_dailycost",
    "monitoring.view_monitor",
]
_WRITE = [
    "runs.add_run",
    "runs.change_run",
    "registry.change_registeredmodel",
    "deployments.change_endpoint",
    "approvals.add_promotionrequest",
    "monitoring.change_monitor",
]
_OVERSEE = ["audit.view_auditevent"]
# Managers and admins set their teams' budgets and read a date range of bills again.
_BUDGET = ["costs.add_budget", "costs.change_budget", "costs.delete_budget", "costs.backfill_dailycost"]
_DECIDE = ["approvals.decide_promotionrequest"]  # approvers decide promotions and release gates
_ADMINISTER = ["approvals.change_environment"]  # environments and their policies
ROLE_PERMISSIONS: dict[str, list[str]] = {
    Role.DATA_SCIENTIST: [*_READ, *_WRITE],
    Role.APPROVER: [*_READ, *_OVERSEE, *_DECIDE],
    Role.MANAGER: [*_READ, *_OVERSEE, *_BUDGET],
    Role.ADMIN: [*_READ, *_WRITE, *_OVERSEE, *_DECIDE, *_ADMINISTER, *_BUDGET],
}


def roles_sync() -> None:
    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = []
        for perm in perms:
            app_label, codename = perm.split(".")
            wanted.extend(Permission.objects.filter(content_type__app_label=app_label, codename=codename))
        group.permissions.set(wanted)
