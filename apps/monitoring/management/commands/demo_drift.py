"""DEMO: the drift loop on an endpoint you deployed, in a few minutes (``make run`` running).

    .venv/bin/python manage.py demo_drift --endpoint <name> [--labels]

Sends the deployed model's own training rows through the gateway, then the same rows with a
few features moved, in phases; a capture-volume monitor "<endpoint> drift (demo)" gets one
window per phase (evaluated here as the beat would, so the demo does not wait for its ticks);
the alert goes to the portal and, signed, to a local webhook receiver this command runs and
prints; the retraining run (the worker trains it) ends in a challenger and a promotion request.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.accounts.models import User
from apps.approvals.evidence.scoring import EvidenceUnavailable, training_request
from apps.backends.jobs.training import load_dataset
from apps.core.errors import DomainError, InvalidInput
from apps.deployments import selectors as endpoint_selectors
from apps.gateway import services as gateway_services
from apps.registry import selectors as registry_selectors
from apps.runs.models import TERMINAL

from ... import compute, services
from ...demo import Deliveries, phase_rows, send, shifted_columns, webhook_receiver
from ...models import DriftReport, Monitor, Retraining, RetrainingStatus

TEMPLATES = {"classification": "tabular-classifier", "regression": "tabular-regressor"}


class Command(BaseCommand):
    help = "DEMO: traffic that shifts halfway through the gateway, a drift monitor, its alert, webhook and retraining."

    def add_arguments(self, parser):
        parser.add_argument("--endpoint", required=True, help="An endpoint in service (deploy a model first).")
        parser.add_argument("--user", default="ds", help="Who acts (a data scientist of the endpoint's team).")
        parser.add_argument(
            "--gateway",
            default=f"http://127.0.0.1:{os.environ.get('GATEWAY_PORT', '8001')}",
            help="The gateway's address (make run: port 8001).",
        )
        parser.add_argument("--rows", type=int, default=300, help="Rows per phase (one monitor window each).")
        parser.add_argument("--phases", type=int, default=6, help="Phases; the second half is shifted.")
        parser.add_argument("--shift", type=float, default=2.0, help="How far moved features go, in std devs.")
        parser.add_argument(
            "--columns",
            type=int,
            default=0,
            help="How many numeric features move (default: just over half, so the dataset drifts).",
        )
        parser.add_argument(
            "--labels",
            action="store_true",
            help="Send each row's label with it: the retraining then trains on the window's labelled rows.",
        )
        parser.add_argument("--template", default="", help="The retraining template (default: by the task); none.")
        parser.add_argument("--environment", default="staging", help="Where the retrained version is asked into.")
        parser.add_argument("--webhook-port", type=int, default=8765, help="The local webhook receiver's port.")
        parser.add_argument("--wait", type=int, default=300, help="Seconds to wait for the promotion request.")

    def say(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    def handle(self, *args, **options):
        import logging

        import httpx

        logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request would bury the story

        user = User.objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"No user {options['user']!r}.")
        endpoint = (
            endpoint_selectors.endpoints_visible(user=user)
            .filter(name=options["endpoint"], state="in_service")
            .prefetch_related("variants")
            .first()
        )
        if endpoint is None:
            raise CommandError(f"No endpoint {options['endpoint']!r} in service for {user}: deploy one first.")
        version = self._version(user, endpoint)
        try:
            training = training_request(version)
            features, labels = load_dataset(training, data_root=Path(settings.DATA_ROOT))
        except (EvidenceUnavailable, ValueError, OSError) as error:
            raise CommandError(f"{version}'s training data cannot be read for the demo's traffic: {error}") from None
        labels = labels.rename(training.target_column or "target")
        _, key = gateway_services.api_key_create(
            user=user, endpoint=endpoint, consumer="demo_drift", rate_limit_per_minute=100_000
        )
        # The demo's receiver is on this machine, which webhooks may not reach by default. This
        # command is an operator's on the server, not a web user's, so it may save that URL; the
        # worker posts to it only if it allows the local network too (`make run`'s does).
        settings.WEBHOOKS_ALLOW_LOCAL_NETWORK = True
        deliveries = Deliveries()
        server = webhook_receiver(port=options["webhook_port"], deliveries=deliveries, say=self.say)
        monitor = self._monitor(user, endpoint, version, training, labels, options)
        deliveries.secret = monitor.webhook_secret_clear
        base = getattr(settings, "PORTAL_URL", "").rstrip("/") or "http://127.0.0.1:8000"
        self.say(f"DEMO monitor: {base}{monitor.get_absolute_url()} (a window per {options['rows']} captured rows)")
        self.say(f"DEMO webhook receiver: http://127.0.0.1:{options['webhook_port']}/ (signatures checked)")
        numeric = len(shifted_columns(features, len(features.columns)))
        moved = shifted_columns(features, options["columns"] or numeric // 2 + 1)
        self.say(f"After phase {options['phases'] // 2}: {', '.join(moved)} move by {options['shift']} std.")
        url = f"{options['gateway'].rstrip('/')}/serve/{endpoint.name}/invocations"
        try:
            with httpx.Client(timeout=30) as client:
                for phase in range(options["phases"]):
                    after = phase >= options["phases"] // 2
                    frame = phase_rows(
                        features,
                        labels if options["labels"] else None,
                        rows=options["rows"],
                        moved=moved if after else [],
                        shift=options["shift"],
                        seed=phase,
                    )
                    ok, failed = send(client, url, key, frame, per_request=10)
                    if not ok:
                        raise CommandError(f"The gateway at {url} answered no request: is `make run` running?")
                    report = self._window(monitor)
                    verdict = report.message if report else "no window yet (the capture has not landed)"
                    label = "shifted" if after else "as trained"
                    self.say(f"phase {phase + 1}/{options['phases']} ({label}, {ok} requests): {verdict}")
            self._follow(monitor, base, options["wait"])
            deadline, alerts = time.monotonic() + 60, monitor.alerts.count()
            while len(deliveries.received) < alerts and time.monotonic() < deadline:
                time.sleep(1)  # the worker delivers each alert's webhook
        except httpx.HTTPError as error:
            raise CommandError(f"The gateway at {url} is not answering ({error}): is `make run` running?") from None
        finally:
            server.shutdown()
        self.say(f"Webhook deliveries verified: {len(deliveries.received)}, refused: {deliveries.refused}.")
        if alerts and not deliveries.received and not deliveries.refused:
            self.say(
                "No webhook delivery arrived: does the worker allow webhooks to this machine "
                "(ATRIUM_WEBHOOKS_ALLOW_LOCAL_NETWORK, on under `make run`)? Its log says why."
            )

    def _version(self, user, endpoint):
        variants = sorted(endpoint.variants.all(), key=lambda v: -(endpoint.weights or {}).get(v.name, 0))
        if not variants:
            raise CommandError(f"{endpoint} serves no model version.")
        model = registry_selectors.model_visible(user=user).filter(name=variants[0].model_name).first()
        version = model and registry_selectors.version_get(model=model, version=variants[0].model_version)
        if version is None:
            raise CommandError(f"{variants[0]}: the registry mirror does not know this version yet (Models → Sync).")
        return version

    def _monitor(self, user, endpoint, version, training, labels, options) -> Monitor:
        name = f"{endpoint.name} drift (demo)"
        for old in Monitor.objects.filter(team=endpoint.team, name=name):
            services.monitor_delete(user=user, monitor=old)  # a fresh demo each time
        template = options["template"] or TEMPLATES.get(training.task, "")
        try:
            return services.monitor_create(
                user=user,
                name=name,
                endpoint=endpoint.name,
                reference={"model_version": str(version.pk)},
                schedule="volume",
                volume_rows=options["rows"],
                alert_feature_windows=0,  # one alert (the dataset drifted) tells the story; features show on the page
                webhook_url=f"http://127.0.0.1:{options['webhook_port']}/atrium",
                retrain_template="" if template == "none" else template,
                retrain_environment=options["environment"],
                label_column=str(labels.name) if options["labels"] else "",
            )
        except InvalidInput as error:
            raise CommandError(f"The demo monitor was refused: {error.errors}") from None
        except DomainError as error:
            raise CommandError(str(error)) from None

    def _window(self, monitor: Monitor, timeout: float = 30.0) -> DriftReport | None:
        """The phase's window, once its rows have landed in the capture store (the gateway
        writes every second): claimed and evaluated here, or by the beat if it came first."""
        before = DriftReport.objects.filter(monitor=monitor).count()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for claim in compute.volume_claim_due(monitor_id=monitor.pk):
                return compute.monitor_evaluate(monitor_id=claim.monitor_id, start=claim.start, end=claim.end)
            if DriftReport.objects.filter(monitor=monitor).count() > before:
                return DriftReport.objects.filter(monitor=monitor).order_by("-created_at").first()
            time.sleep(1)
        return None

    def _follow(self, monitor: Monitor, base: str, wait: int) -> None:
        """The alert and what it started, until the promotion request is filed (or ``wait`` runs out)."""
        for alert in monitor.alerts.all():
            self.say(f"alert ({'open' if alert.is_open else 'resolved'}): {alert.message}")
        retraining = Retraining.objects.filter(monitor=monitor).select_related("run").first()
        if retraining is None:
            self.say("No retraining started (no template, or no alert of its rule).")
            return
        if retraining.run is None:
            self.say(f"The retraining could not start: {retraining.message}")
            return
        self.say(f"retraining run: {base}{retraining.run.get_absolute_url()} on {retraining.trained_on}")
        if retraining.trained_on_note:
            self.say(f"  {retraining.trained_on_note}")
        elif retraining.labelled_rows:
            added = f" after the model's {retraining.training_rows} training rows" if retraining.training_rows else ""
            self.say(f"  {retraining.labelled_rows} labelled rows of the window{added}")
        deadline, shown = time.monotonic() + wait, ""
        while time.monotonic() < deadline:
            retraining.refresh_from_db()
            run = retraining.run
            run.refresh_from_db()
            state = f"run {run.status}, retraining {retraining.get_status_display().lower()}"
            if state != shown:
                self.say(f"  {state}")
                shown = state
            if retraining.status != RetrainingStatus.RUNNING or (run.status in TERMINAL and run.status != "succeeded"):
                break
            time.sleep(3)
        if retraining.promotion_request_id:
            request = retraining.promotion_request
            self.say(f"promotion request: {base}{request.get_absolute_url()} ({retraining.message})")
        else:
            self.say(f"No promotion request yet: {retraining.message}")
