from django.apps import AppConfig


class CostsConfig(AppConfig):
    name = "apps.costs"

    def ready(self):
        from . import views  # noqa: F401 - registers the manager's home panel
