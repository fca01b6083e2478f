from django.conf import settings
from django.db import models

from apps.core.links import url_for
from apps.core.models import BaseModel


class TemplateKind(models.TextChoices):
    PROVISION = "provision", "Provision"
    TRAIN = "train", "Train"
    TUNE = "tune", "Tune"
    DEPLOY = "deploy", "Deploy"
    BATCH = "batch", "Batch inference"
    WORKSPACE = "workspace", "Workspace"


class Visibility(models.TextChoices):
    TEAM = "team", "Owner team only"
    ORGANISATION = "organisation", "Everyone"


class Tag(models.Model):
    name = models.SlugField(max_length=50, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Template(BaseModel):
    """A catalogue entry. Its fields mirror its current version's spec, so
    that browsing and search never parse specs; the spec is the record."""

    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=200)
    summary = models.CharField(max_length=300, blank=True)
    description = models.TextField(blank=True)  # Markdown, rendered sanitised
    owner = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="templates")
    visibility = models.CharField(max_length=20, choices=Visibility.choices, default=Visibility.ORGANISATION)
    kind = models.CharField(max_length=20, choices=TemplateKind.choices)
    # ",local,sagemaker," -- a containment filter that needs no join and works on every database.
    backends = models.CharField(max_length=100)
    tags = models.ManyToManyField(Tag, blank=True, related_name="templates")
    current_version = models.ForeignKey(
        "TemplateVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Lower-cased name, summary, description and tags; PostgreSQL indexes it
    # with a trigram GIN index (migration 0002) so "contains" search is indexed.
    search_text = models.TextField(blank=True)
    # A template removed from catalog/ (or by an admin) stops being launchable; its runs stay.
    archived = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]
        indexes = [
            models.Index(fields=["archived", "kind", "name"]),
            # The Catalogue's two parts (selectors.template_pages), each walked in name order:
            # organisation-wide templates, and the team-only ones of the person's teams.
            models.Index(fields=["visibility", "name", "archived"]),
            models.Index(fields=["visibility", "owner", "name", "archived"]),
            # Their counts (the pager's "N templates"), read from this narrow index alone: PostgreSQL
            # read the whole table for the organisation-wide count rather than the wide name index.
            models.Index(fields=["visibility", "archived", "owner"], name="catalog_template_counts"),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return url_for("catalog:detail", self.slug)

    @property
    def backend_list(self) -> list[str]:
        return [b for b in self.backends.split(",") if b]


class TemplateVersion(BaseModel):
    """An immutable snapshot of a template's spec. Every change makes a new
    one; a run points at the exact version it used."""

    template = models.ForeignKey(Template, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    spec = models.JSONField()
    checksum = models.CharField(max_length=64)  # sha256 of the canonical spec: an unchanged file is no new version
    source = models.CharField(max_length=300)  # "catalog/train.yaml" or "edited in the portal"
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["template", "-number"]
        constraints = [models.UniqueConstraint(fields=["template", "number"], name="template_version_unique")]

    def __str__(self):
        return f"{self.template.slug} v{self.number}"

    @property
    def steps(self) -> list[dict]:
        return self.spec.get("steps", [])

    @property
    def parameters(self) -> dict:
        return self.spec.get("parameters", {})

    @property
    def ui(self) -> dict:
        return self.spec.get("ui", {})
