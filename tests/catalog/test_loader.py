"""The loader: template files become versioned templates; a bad file is
refused with its location and the live version stays."""

import pytest
from django.core.management import call_command

from apps.catalog.models import Template, TemplateVersion
from apps.catalog.services import TemplateRefused, catalog_load, spec_parse, template_edit

from .conftest import SHIPPED, minimal_spec


def load(folder):
    return {r.source.split("/")[-1]: r for r in catalog_load(folder=folder)}


def test_every_shipped_template_loads(db, team):
    results = catalog_load(folder=SHIPPED)
    assert results and all(r.outcome == "created" for r in results), [str(r) for r in results]
    assert Template.objects.count() == len(results) >= 6


def test_valid_file_creates_template_with_version_one(catalog_dir, team):
    (catalog_dir / "mini.yaml").write_text(minimal_spec(owner=team.slug))
    result = load(catalog_dir)["mini.yaml"]
    assert result.outcome == "created"
    template = Template.objects.get(slug="mini")
    assert template.current_version.number == 1
    assert template.owner == team
    assert template.backend_list == ["local"]
    assert [t.name for t in template.tags.all()] == ["tabular"]
    assert "test template" in template.search_text


def test_changed_file_makes_a_new_version_and_unchanged_does_not(catalog_dir, team):
    path = catalog_dir / "mini.yaml"
    path.write_text(minimal_spec(owner=team.slug))
    load(catalog_dir)
    assert load(catalog_dir)["mini.yaml"].outcome == "unchanged"
    path.write_text(minimal_spec(owner=team.slug, name="Mini renamed"))
    assert load(catalog_dir)["mini.yaml"].outcome == "updated"
    template = Template.objects.get(slug="mini")
    assert template.name == "Mini renamed"
    assert list(template.versions.values_list("number", flat=True)) == [2, 1]
    assert template.current_version.number == 2
    assert TemplateVersion.objects.get(template=template, number=1).spec["name"] == "Mini"


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        (("maximum: 50", "maximum: fifty"), "/parameters/properties/n_estimators/maximum"),
        (("action: train", "action: explode"), "/steps/0/action"),
        (("parameters.model_name", "parameters.nope"), "/steps/0/input/model_name"),
        (("kind: train", "kind: party"), "/kind"),
    ],
)
def test_invalid_file_is_refused_with_location_and_previous_version_stays(catalog_dir, team, change, pointer):
    path = catalog_dir / "mini.yaml"
    path.write_text(minimal_spec(owner=team.slug))
    load(catalog_dir)
    path.write_text(minimal_spec(owner=team.slug, name="Broken").replace(*change))
    result = load(catalog_dir)["mini.yaml"]
    assert result.outcome == "refused"
    assert [e.pointer for e in result.errors][0] == pointer
    assert str(result).startswith("catalog/mini.yaml:" + pointer)
    template = Template.objects.get(slug="mini")
    assert template.name == "Mini" and template.current_version.number == 1
    assert template.versions.count() == 1


def test_reference_to_a_later_step_is_refused(team):
    text = minimal_spec(owner=team.slug).replace("      dataset: iris", "      dataset: ${{ steps.later.outputs.x }}")
    with pytest.raises(TemplateRefused) as refused:
        spec_parse(text, source="x.yaml")
    assert refused.value.errors[0].pointer == "/steps/0/input/dataset"
    assert "not an earlier step" in refused.value.errors[0].message


def test_yaml_syntax_error_names_the_line(catalog_dir, team):
    (catalog_dir / "bad.yaml").write_text("slug: [unclosed\nname: x\n")
    result = load(catalog_dir)["bad.yaml"]
    assert result.outcome == "refused"
    assert "line" in result.errors[0].message
    assert not Template.objects.exists()


def test_one_bad_file_does_not_stop_the_others(catalog_dir, team):
    (catalog_dir / "a.yaml").write_text("apiVersion: atrium/v1\n")
    (catalog_dir / "b.yaml").write_text(minimal_spec(slug="bee", owner=team.slug))
    results = load(catalog_dir)
    assert results["a.yaml"].outcome == "refused"
    assert results["b.yaml"].outcome == "created"


def test_command_is_strict_on_request(catalog_dir, team, capsys):
    (catalog_dir / "a.yaml").write_text("apiVersion: atrium/v1\n")
    call_command("load_catalog", str(catalog_dir))  # refused files are reported, the command goes on
    assert "refused" in capsys.readouterr().err
    with pytest.raises(Exception, match="refused"):
        call_command("load_catalog", str(catalog_dir), "--strict")


def test_admin_edit_makes_a_version_and_bad_edit_changes_nothing(make_template, make_user):
    from apps.accounts.models import Role

    template = make_template()
    admin = make_user("boss", role=Role.ADMIN)
    version = template_edit(template=template, text=minimal_spec(name="Edited", owner=template.owner.slug), user=admin)
    assert version.number == 2 and "edited in the portal by boss" in version.source
    with pytest.raises(TemplateRefused):
        template_edit(template=template, text="steps: nope", user=admin)
    template.refresh_from_db()
    assert template.current_version.number == 2 and template.name == "Edited"


def test_only_admins_edit(make_template, ds):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        template_edit(template=make_template(), text=minimal_spec(), user=ds)
