"""The API's pagination: limit/offset with bounds, so ``?limit=<huge>`` or
``?offset=<huge>`` never reaches the database as an overflowing integer."""

from rest_framework.pagination import LimitOffsetPagination

MAX_OFFSET = 2**31 - 1


class CappedLimitOffsetPagination(LimitOffsetPagination):
    max_limit = 500

    def get_offset(self, request):
        return min(super().get_offset(request), MAX_OFFSET)
