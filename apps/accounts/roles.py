"""Role -> permissions. Groups are (re)synced after every migrate, so adding a
permission here is all it takes to grant it."""

from django.contrib.auth.models import Group, Permission

from .models import Role

ROLE_PERMISSIONS: dict[str, list[str]] = {
    Role.DATA_SCIENTIST: ["runs.view_run", "runs.add_run", "runs.change_run"],
    Role.APPROVER: ["runs.view_run"],
    Role.MANAGER: ["runs.view_run"],
    Role.ADMIN: ["runs.view_run", "runs.add_run", "runs.change_run"],
}


def roles_sync() -> None:
    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = []
        for perm in perms:
            app_label, codename = perm.split(".")
            wanted.extend(Permission.objects.filter(content_type__app_label=app_label, codename=codename))
        group.permissions.set(wanted)
