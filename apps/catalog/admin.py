from django.contrib import admin

from .models import Tag, Template, TemplateVersion


class TemplateVersionInline(admin.TabularInline):
    model = TemplateVersion
    extra = 0
    can_delete = False
    fields = ["number", "source", "checksum", "created_by", "created_at"]
    readonly_fields = fields


@admin.register(Template)
class TemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "kind", "owner", "visibility", "archived"]
    list_filter = ["kind", "visibility", "archived"]
    search_fields = ["slug", "name"]
    # Specs change only through the loader or the portal's editor, which check them and make a version.
    readonly_fields = [f.name for f in Template._meta.fields]
    inlines = [TemplateVersionInline]


admin.site.register(Tag)
