"""Weight: plotly.js collected as one hashed, compressed static file, loaded only with a chart."""

import json

import pytest
from django.core.management import call_command
from django.test import override_settings

from tests.registry.factories import make_model

pytestmark = pytest.mark.django_db

MANIFEST = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}


def test_collectstatic_hashes_and_compresses_plotly_and_nothing_else_of_the_package(tmp_path):
    with override_settings(STATIC_ROOT=tmp_path, STORAGES=MANIFEST):
        call_command("collectstatic", interactive=False, verbosity=0)
    hashed = json.loads((tmp_path / "staticfiles.json").read_text())["paths"]["vendor/plotly/plotly.min.js"]
    assert hashed != "vendor/plotly/plotly.min.js" and (tmp_path / hashed).exists()
    assert (tmp_path / f"{hashed}.gz").stat().st_size < (tmp_path / hashed).stat().st_size / 3
    assert not (tmp_path / "vendor/plotly/widgetbundle.js").exists()
    assert not (tmp_path / "vendor/plotly/datasets").exists()


def test_plotly_loads_only_on_pages_with_a_chart(ds_client, team):
    charted = make_model(team=team, versions=3)
    assert "plotly.min" in ds_client.get(charted.get_absolute_url()).content.decode()
    uncharted = make_model(team=team, versions=2, metric="")
    assert "plotly.min" not in ds_client.get(uncharted.get_absolute_url()).content.decode()
    for url in ("/", "/runs/", "/models/", "/catalog/"):
        assert "plotly.min" not in ds_client.get(url).content.decode(), url


def test_the_compare_chart_fits_its_axis_to_the_data(ds_client, team):
    model = make_model(team=team, versions=3)
    page = ds_client.get(f"{model.get_absolute_url()}compare/?v=1&v=3").content.decode()
    figure = json.loads(page.split('id="compare-chart" type="application/json">', 1)[1].split("</script>", 1)[0])
    assert {trace["type"] for trace in figure["data"]} == {"scatter"}  # bars would start at 0
    assert figure["layout"]["yaxis"]["rangemode"] == "normal"


def test_favicon_ico_is_not_a_404(client):
    response = client.get("/favicon.ico")
    assert response.status_code in (301, 302) and response["Location"].endswith(".svg")
