from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "apps.catalog"

    def ready(self):
        from . import views  # noqa: F401 - registers the home page's quick-launch panel
