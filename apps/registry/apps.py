from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "apps.registry"

    def ready(self):
        # The run engine links a version the moment the step that registered it
        # succeeds, and shows the portal's own version page on run pages.
        from apps.runs import hooks

        from . import (
            selectors,
            services,
            views,  # noqa: F401 - registers the home page's model panel
        )

        hooks.on_step_end("registry.link_version", statuses=("succeeded",))(services.version_link_step)
        hooks.provide_model_versions(selectors.versions_of_steps)
