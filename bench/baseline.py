"""The bare baseline view: a small constant JSON through the same server and middleware.

Nothing an endpoint can do is cheaper than this, so it is the ceiling of every cached endpoint's
requests per second, measured in the same run (the machine is shared and absolute figures drift).
"""

from django.http import JsonResponse
from django.views.decorators.http import require_safe

BODY = {"status": "ok", "service": "socialmetrics", "baseline": True}


@require_safe
def baseline(request):
    return JsonResponse(BODY)
