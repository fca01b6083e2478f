from django.contrib import messages as page_messages
from django.shortcuts import render

from .errors import DomainError


def query_without_page(request) -> str:
    """The list's filters as a query string, for the pager's links to add a page to."""
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


def render_page_or_partial(request, *, page: str, partial: str, context: dict):
    """htmx requests get the fragment; everyone else (no JS) the full page."""
    return render(request, partial if request.htmx else page, context)


def domain_error_message(error) -> str:
    """A DomainError as one line for a page's message area (every field's messages)."""
    messages = []

    def walk(value):
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            messages.extend(str(item) for item in value)
        else:
            messages.append(str(value))

    walk(error.errors)
    return " ".join(messages)


def act(request, action, success: str) -> bool:
    """A page's POST calling a service: ``success`` as the page's message, or
    the domain error's messages (400/409 rules said no). True when it went through."""
    try:
        action()
    except DomainError as exc:
        page_messages.error(request, domain_error_message(exc))
        return False
    page_messages.success(request, success)
    return True
