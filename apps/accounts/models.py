import hashlib

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.functional import cached_property

from apps.core.models import BaseModel


class Role(models.TextChoices):
    """Roles are auth groups carrying permissions (see the roles migration)."""

    DATA_SCIENTIST = "data_scientist", "Data scientist"
    APPROVER = "approver", "Approver"
    MANAGER = "manager", "Manager"
    ADMIN = "admin", "Admin"


class User(AbstractUser):
    teams = models.ManyToManyField("Team", through="Membership", related_name="members", blank=True)

    @cached_property
    def is_portal_admin(self) -> bool:
        """Admins see every team's objects."""
        return self.is_superuser or self.groups.filter(name=Role.ADMIN).exists()


class Team(BaseModel):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Membership(BaseModel):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    team = models.ForeignKey(Team, on_delete=models.CASCADE)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "team"], name="unique_membership")]


class ApiToken(BaseModel):
    """A per-user API key. Only its SHA-256 is stored; the key is shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=12, help_text="First characters, to tell keys apart.")
    key_hash = models.CharField(max_length=64, unique=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    @staticmethod
    def hash_key(key: str) -> str:
        # Keys are 256-bit random strings, so a fast hash is enough (no brute force).
        return hashlib.sha256(key.encode()).hexdigest()
