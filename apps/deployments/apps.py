from django.apps import AppConfig


class DeploymentsConfig(AppConfig):
    name = "apps.deployments"

    def ready(self):
        # Rollout stages are steps of the run engine; the endpoint mirror follows
        # every endpoint run the moment its step ends.
        from apps.runs import hooks
        from apps.runs.operations import operation_register

        from . import (
            following,
            mirror,
            rollouts,
            views,  # noqa: F401 - registers the home page's endpoint panel
        )

        operation_register(rollouts.RolloutStage())
        hooks.on_step_end("deployments.mirror_endpoint", statuses=("succeeded", "failed"))(
            following.endpoint_follow_step
        )
        hooks.on_run_end("deployments.rollout_finished")(following.rollout_finished)
        # After the mirror's own hook: a found endpoint the portal has deployed to is the portal's.
        hooks.on_step_end("deployments.adopt_found_endpoint")(mirror.endpoint_adopt)
