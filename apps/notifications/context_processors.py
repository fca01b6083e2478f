from .selectors import unread_count


def notifications(request):
    """The unread count in the top bar, on every page of a signed-in person."""
    if not request.user.is_authenticated:
        return {}
    return {"unread_notifications": unread_count(user=request.user)}
