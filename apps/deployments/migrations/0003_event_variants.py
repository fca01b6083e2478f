from django.db import migrations, models


def record_what_found_endpoints_serve(apps, schema_editor):
    """A found endpoint still left to the mirror serves what the mirror last wrote, at its latest
    "found" or "changed" event: that event gets those variants, so a change seen from now on
    splits the days before it by them (rather than by the changed ones, for lack of a record)."""
    Endpoint = apps.get_model("deployments", "Endpoint")
    EndpointEvent = apps.get_model("deployments", "EndpointEvent")
    Variant = apps.get_model("deployments", "Variant")
    found = Endpoint.objects.filter(discovered=True, rollout_run__isnull=True)
    served: dict[int, list[dict]] = {}
    for endpoint_id, name, model_name, model_version, instance_count in (
        Variant.objects.filter(endpoint__in=found)
        .order_by("endpoint_id", "name")
        .values_list("endpoint_id", "name", "model_name", "model_version", "instance_count")
    ):
        served.setdefault(endpoint_id, []).append(
            {"name": name, "model_name": model_name, "model_version": model_version, "instance_count": instance_count}
        )
    for endpoint_id, variants in served.items():
        latest = (
            EndpointEvent.objects.filter(endpoint_id=endpoint_id, kind__in=["found", "changed"])
            .order_by("-at", "-id")
            .first()
        )
        if latest is not None:
            latest.variants = variants
            latest.save(update_fields=["variants"])


class Migration(migrations.Migration):
    dependencies = [
        ("deployments", "0002_endpoint_mirror"),
    ]

    operations = [
        migrations.AddField(
            model_name="endpointevent",
            name="variants",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.RunPython(record_what_found_endpoints_serve, migrations.RunPython.noop),
    ]
