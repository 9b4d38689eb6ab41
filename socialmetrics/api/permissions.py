"""Who may do what: reads are open unless SOCIALMETRICS_PUBLIC_READ=false; every write needs staff."""

from django.conf import settings
from rest_framework.permissions import SAFE_METHODS, BasePermission


def reads_are_public() -> bool:
    return bool(settings.SOCIALMETRICS_PUBLIC_READ)


class ReadOrStaffWrite(BasePermission):
    """GET/HEAD/OPTIONS: anyone when reads are public, else signed-in users and token holders.
    Anything else: an active staff user (session with CSRF, or token)."""

    message = "This needs a staff account."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if request.method in SAFE_METHODS:
            return reads_are_public() or bool(user and user.is_authenticated)
        return bool(user and user.is_authenticated and user.is_active and user.is_staff)


class StaffOnly(BasePermission):
    """Every method, reads included: an active staff user."""

    message = "This needs a staff account."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_active and user.is_staff)
