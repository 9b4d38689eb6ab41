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


#: What every text the API reads may hold: anything but NUL, which no database column here can store
#: (a request carrying one is refused with 400).
TEXT_PATTERN = "^[^\\u0000]*$"


def text_without_nul(result, generator, request, public):
    """drf-spectacular post-processing: every free-text input (a query or path parameter, a field
    of a request body) says it cannot hold NUL, as the API's validators refuse it."""

    def mark(schema):
        if not isinstance(schema, dict):
            return
        if schema.get("type") == "string" and not {"format", "enum", "pattern"} & schema.keys():
            schema["pattern"] = TEXT_PATTERN
        children = [*schema.get("properties", {}).values(), schema.get("items")]
        for key in ("anyOf", "oneOf", "allOf"):
            children += schema.get(key, [])
        for child in children:
            mark(child)

    for path in result.get("paths", {}).values():
        for operation in path.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                mark(parameter.get("schema"))
    for name, schema in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request"):
            mark(schema)
    return result
