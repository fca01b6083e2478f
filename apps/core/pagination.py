"""Pagination. The API's: limit/offset with bounds, so ``?limit=<huge>`` or
``?offset=<huge>`` never reaches the database as an overflowing integer. The
pages': ``MergedPages``, one list read from parts that each walk an index."""

import heapq

from rest_framework.pagination import LimitOffsetPagination

MAX_OFFSET = 2**31 - 1


class CappedLimitOffsetPagination(LimitOffsetPagination):
    max_limit = 500

    def get_offset(self, request):
        return min(super().get_offset(request), MAX_OFFSET)


class MergedPages:
    """Disjoint querysets read as one list in ``order``, for Django's Paginator.

    Why: "A or B ORDER BY name LIMIT 24" cannot walk an index in order, so the
    database reads and sorts every matching row; "A ORDER BY name LIMIT n" and
    "B ORDER BY name LIMIT n" each walk one (the Catalogue with 10,000 templates:
    15 ms -> under 1 ms). A page reads the ordering keys of the first ``stop``
    rows of each part, merges them, then loads that page's rows by id with
    ``rows(ids)``. The parts must not overlap; ``count()`` adds theirs up."""

    def __init__(self, parts, *, order: tuple[str, ...], rows):
        self.parts = parts
        self.order = order
        self.rows = rows

    def count(self) -> int:
        return sum(part.count() for part in self.parts)

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, item):
        if isinstance(item, int):
            return self[item : item + 1][0]
        start, stop = item.start or 0, item.stop
        # Ordered by ``order`` alone, so an index on it serves; ties are merged by id.
        heads = [list(part.order_by(*self.order).values_list(*self.order, "pk")[:stop]) for part in self.parts]
        keys = list(heapq.merge(*heads))[start:stop]
        ids = [key[-1] for key in keys]
        found = {row.pk: row for row in self.rows(ids)}
        return [found[pk] for pk in ids if pk in found]
