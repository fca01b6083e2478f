from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "apps.runs"

    def ready(self):
        from . import views  # noqa: F401 - registers the home page's run panels
