"""Page-number pagination in the shape the earlier tracker's clients read:
``{"data": [...], "pagination": {"page", "per_page", "total", "pages"}}``.

``per_page`` above the endpoint's maximum is capped (and the response says the capped value);
a page past the end is an empty page, not an error, so scripts can loop until ``data`` is empty.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .params import positive_int


@dataclass(frozen=True, slots=True)
class PageRequest:
    page: int
    per_page: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


def page_request(*, params: Mapping[str, str], default_per_page: int, max_per_page: int) -> PageRequest:
    page = positive_int(params=params, name="page", default=1)
    per_page = min(positive_int(params=params, name="per_page", default=default_per_page), max_per_page)
    return PageRequest(page=page, per_page=per_page)


def page_info(*, request: PageRequest, total: int, **extra) -> dict:
    pages = (total + request.per_page - 1) // request.per_page if total else 0
    return {"page": request.page, "per_page": request.per_page, "total": total, "pages": pages, **extra}
