from django.apps import AppConfig


class CostsConfig(AppConfig):
    name = "apps.costs"

    def ready(self):
        from celery.signals import worker_ready

        from . import tasks, views  # noqa: F401 - views registers the manager's home panel

        worker_ready.connect(tasks.read_at_worker_start, weak=False, dispatch_uid="costs.read_at_worker_start")
