"""The OpenAPI schema's account of who may call an operation: drf-spectacular's AutoSchema, told
that reads are public (SOCIALMETRICS_PUBLIC_READ) and that any operation taking credentials can
answer 401 when they are wrong."""

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework.permissions import SAFE_METHODS

from .errors import ErrorSerializer
from .permissions import ReadOrStaffWrite, reads_are_public

_UNAUTHORIZED = OpenApiResponse(ErrorSerializer, description="Credentials missing or wrong (a bad token).")


class AutoSchema(SpectacularAutoSchema):
    def get_auth(self):
        auths = super().get_auth()
        public_read = self.method in SAFE_METHODS and reads_are_public()
        if (
            public_read
            and ReadOrStaffWrite in {type(p) for p in self.view.get_permissions()}
            and {} not in auths
        ):
            auths.append({})  # anonymous
        return auths

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if self.view.get_authenticators() and "401" not in responses:
            responses["401"] = self._get_response_for_code(_UNAUTHORIZED, "401", direction=direction)
        return responses
