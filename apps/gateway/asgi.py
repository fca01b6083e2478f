"""The gateway's ASGI entry point: ``uvicorn apps.gateway.asgi:app`` (``bin/gateway``)."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django.setup()

from .app import create_app  # noqa: E402 (after Django is set up)

app = create_app()
