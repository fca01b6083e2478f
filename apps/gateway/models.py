"""API keys of the inference gateway: per consumer, scoped to one endpoint,
stored as a SHA-256 of a 256-bit random key (shown once), revocable, each with
its own rate limit."""

import hashlib

from django.conf import settings
from django.db import models

from apps.core.models import BaseModel

KEY_PREFIX = "atk_"  # tells a gateway key from a portal API token (atr_) at a glance


class ApiKey(BaseModel):
    endpoint = models.ForeignKey("deployments.Endpoint", on_delete=models.CASCADE, related_name="api_keys")
    consumer = models.CharField(max_length=100, help_text="Who calls with it (an application, a team).")
    prefix = models.CharField(max_length=12, help_text="First characters, to tell keys apart.")
    # The key is 256 random bits: a fast hash cannot be brute-forced, and the gateway
    # checks it per request from memory (a slow hash would cost milliseconds per miss).
    key_hash = models.CharField(max_length=64, unique=True)
    rate_limit_per_minute = models.PositiveIntegerField(default=600)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["endpoint", "-created_at"])]

    def __str__(self):
        return f"{self.consumer} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()


class CaptureCursor(models.Model):
    """How far the cloud's capture of one endpoint (SageMaker Data Capture, a
    Databricks inference table) has been read into the capture store
    (``cloud_capture``). One row per endpoint, made by its first pull."""

    endpoint = models.OneToOneField(
        "deployments.Endpoint", primary_key=True, on_delete=models.CASCADE, related_name="capture_cursor"
    )
    # Events before this were read (the next pull reads again from an overlap before it, for late arrivals).
    read_until = models.DateTimeField(null=True, blank=True)
    # When the last pull that read up to its own start began: the cloud's files older than that were read.
    complete_at = models.DateTimeField(null=True, blank=True)
    rows = models.BigIntegerField(default=0)  # rows written, every pull
    pulled_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)  # the last pull's failure, for people; "" once one succeeds
    # A pull holds the endpoint until then (a slow pull and the next beat never read it twice at once).
    lease_until = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"capture of {self.endpoint_id} read until {self.read_until}"
