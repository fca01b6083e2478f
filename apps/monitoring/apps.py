from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "apps.monitoring"
    verbose_name = "Monitoring"

    def ready(self):
        # An ad-hoc drift report is a step of the run engine, computed in a worker.
        from apps.runs import hooks
        from apps.runs.operations import operation_register

        from . import (
            evidence,  # noqa: F401 - adds the drift check to approvals' evidence pack
            views,  # noqa: F401 - registers the home page's drift panel
        )
        from .compute import DriftStep, report_run_ended
        from .following import retraining_run_ended

        operation_register(DriftStep())
        hooks.on_run_end("monitoring.drift_report_ended", statuses=("failed", "cancelled"))(report_run_ended)
        # A retraining run an alert started: its version becomes the challenger and is asked into
        # the monitor's environment (after the registry's own effect linked the version).
        hooks.on_run_end("monitoring.retraining_ended")(retraining_run_ended)
