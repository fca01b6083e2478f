from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator

from apps.core.htmx import query_without_page, render_page_or_partial

from . import selectors
from .forms import AuditFilterForm

PER_PAGE = 50


@login_required
def audit_list(request):
    form = AuditFilterForm(request.GET)
    events = selectors.audit_list(user=request.user, filters=form.filters())
    page = Paginator(events, PER_PAGE).get_page(request.GET.get("page"))
    page.object_list = selectors.audit_present(page.object_list)
    context = {
        "form": form,
        "page": page,
        "query": query_without_page(request),
    }
    return render_page_or_partial(request, page="audit/list.html", partial="audit/_table.html", context=context)
