from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_roles(**kwargs):
    from .roles import roles_sync

    roles_sync()


class AccountsConfig(AppConfig):
    name = "apps.accounts"

    def ready(self):
        # Permissions exist only after migrate, so roles are synced then.
        post_migrate.connect(_sync_roles, dispatch_uid="atrium-roles")
        from axes.signals import user_locked_out

        from .lockout import audit_lockout

        user_locked_out.connect(audit_lockout, dispatch_uid="atrium-audit-lockout")
