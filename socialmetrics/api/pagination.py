"""Page-number pagination in the shape the earlier tracker's clients read:
``{"data": [...], "pagination": {"page", "per_page", "total", "pages"}}``.

``per_page`` above the endpoint's maximum is capped (and the response says the capped value);
a page past the end is an empty page, not an error, so scripts can loop until ``data`` is empty.
A page number above `MAX_PAGE` is refused: no table here has that many pages, and the offset of
every page up to it fits the database's integers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from drf_spectacular.utils import OpenApiParameter

from .params import positive_int

#: The highest page number a client may ask for.
MAX_PAGE = 1_000_000_000


@dataclass(frozen=True, slots=True)
class PageRequest:
    page: int
    per_page: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


def page_request(*, params: Mapping[str, str], default_per_page: int, max_per_page: int) -> PageRequest:
    page = positive_int(params=params, name="page", default=1, maximum=MAX_PAGE)
    per_page = min(positive_int(params=params, name="per_page", default=default_per_page), max_per_page)
    return PageRequest(page=page, per_page=per_page)


def page_info(*, request: PageRequest, total: int, **extra) -> dict:
    pages = (total + request.per_page - 1) // request.per_page if total else 0
    return {"page": request.page, "per_page": request.per_page, "total": total, "pages": pages, **extra}


def page_parameters(*, default_per_page: int, max_per_page: int) -> list[OpenApiParameter]:
    """``page`` and ``per_page`` as the schema documents them (with the bounds `page_request` keeps)."""
    return [
        OpenApiParameter(
            "page",
            {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
            description="Page number, from 1 (default 1); a page past the end is empty.",
        ),
        OpenApiParameter(
            "per_page",
            {"type": "integer", "minimum": 1},
            description=(
                f"Rows per page (default {default_per_page}; more than {max_per_page} is read as "
                f"{max_per_page})."
            ),
        ),
    ]
