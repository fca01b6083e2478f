from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "apps.approvals"

    def ready(self):
        # Evidence checks are steps of the run engine; the pack's own checks
        # register here (other apps add theirs from their own ready()).
        from apps.runs import hooks
        from apps.runs.operations import operation_register

        from . import (
            evidence,
            gates,
            views,  # noqa: F401 - registers the home page's approvals panels
        )
        from .evidence import checks  # noqa: F401 - registers the pack's checks

        operation_register(evidence.EvidenceStep())
        # A template's approval gate becomes a request approvers decide.
        hooks.on_gate_waiting(gates.gate_request_open)
        hooks.on_step_end("approvals.gate_ended", statuses=("succeeded", "failed", "cancelled"))(gates.gate_step_ended)
