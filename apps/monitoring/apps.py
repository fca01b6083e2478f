from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "apps.monitoring"
    verbose_name = "Monitoring"

    def ready(self):
        # An ad-hoc drift report is a step of the run engine, computed in a worker.
        from apps.runs import hooks
        from apps.runs.operations import operation_register

        from . import views  # noqa: F401 - registers the home page's drift panel
        from .compute import DriftStep, report_run_ended

        operation_register(DriftStep())
        hooks.on_run_end("monitoring.drift_report_ended", statuses=("failed", "cancelled"))(report_run_ended)
