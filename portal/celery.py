import os

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("atrium")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _preload(**kwargs):
    """Before the pool forks: what every worker process would otherwise import on its
    first task (scikit-learn, MLflow: seconds each), so each one starts warm after a (re)start."""
    from apps.backends.jobs.training import preload as preload_estimators
    from apps.backends.local.registry import preload as preload_mlflow

    preload_estimators()
    preload_mlflow()
