"""The API's edge: what reaches the views is JSON that can be stored and compared, and every refusal has one shape.

- `StrictJSONParser`: the only parser of the API. A body is UTF-8 JSON of at most API_MAX_BODY_BYTES, nested at most
  API_MAX_JSON_DEPTH deep, with finite numbers only and strings without NUL bytes or lone surrogates (PostgreSQL
  stores neither, and Python cannot encode a lone surrogate). Anything else is a 400 `malformed`; a form body a 415.
- `api_exception_handler`: DRF's refusals (parse error, 401/403, 404, 405, 415, throttled) in the project's shape,
  `{"error": code, "detail": message}`.
- `APIEdgeMiddleware`: a body announced larger than the limit is refused (413) before a byte of it is read, a
  chunked body (no Content-Length) is read up to the limit rather than taken for empty, a body that is not JSON
  is a 415 on every endpoint (a wildcard `*/*` included), and Django's own error pages under /api/ (an unknown
  path, a server error) answer the same JSON shape.
"""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.handlers.wsgi import LimitedStream
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.encoding import force_str
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import BaseParser
from rest_framework.response import Response

API_PREFIX = "/api/"
# The largest value of PostgreSQL's bigint (and SQLite's integer): ids and offsets beyond it cannot be compared.
DB_INT_MAX = 2**63 - 1
_ASCII_INT = re.compile(r"[0-9]{1,19}")
_PUBLIC_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
PUBLIC_ID_PATTERN = r"^[A-Za-z0-9_-]{1,32}$"
_SURROGATE = re.compile(r"[\ud800-\udfff]")


class Malformed(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "The request is malformed."
    default_code = "malformed"


class TooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"

    def __init__(self) -> None:
        super().__init__(too_large_message())


def too_large_message() -> str:
    return f"The request body is over the limit of {settings.API_MAX_BODY_BYTES} bytes."


def db_int(raw: str, name: str, minimum: int = 0) -> int:
    """A query parameter as an integer the database can compare: ASCII digits only (str.isdigit() accepts "²",
    which int() refuses), within bigint."""
    if not _ASCII_INT.fullmatch(raw) or not minimum <= int(raw) <= DB_INT_MAX:
        raise Malformed(f"{name} must be a whole number from {minimum} to {DB_INT_MAX}, in ASCII digits.")
    return int(raw)


def is_public_id(value: object) -> bool:
    """The alphabet and length of the opaque ids (generation.models.new_public_id): url-safe base64."""
    return isinstance(value, str) and _PUBLIC_ID.fullmatch(value) is not None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of the range of a number")
    return value


def _check_value(data: Any, max_depth: int) -> None:
    """Walk the parsed body once: nesting depth, and strings PostgreSQL cannot store or Python cannot encode."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            strings = (value,)
        elif isinstance(value, dict | list):
            if depth >= max_depth:
                raise Malformed(f"JSON nested deeper than {max_depth} levels.")
            if isinstance(value, dict):
                strings = tuple(value)
                stack.extend((v, depth + 1) for v in value.values())
            else:
                strings = ()
                stack.extend((v, depth + 1) for v in value)
        else:
            continue
        for text in strings:
            if "\x00" in text:
                raise Malformed("Strings may not contain NUL characters.")
            if _SURROGATE.search(text):
                raise Malformed("Strings may not contain lone surrogates (\\ud800-\\udfff).")


class StrictJSONParser(BaseParser):
    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        limit = settings.API_MAX_BODY_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:  # the middleware refuses by Content-Length; this holds whatever the stream is
            raise TooLarge()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Malformed("The body is not UTF-8.") from None
        try:
            data = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
        except RecursionError:
            raise Malformed(f"JSON nested deeper than {settings.API_MAX_JSON_DEPTH} levels.") from None
        except ValueError as exc:  # json.JSONDecodeError, the refusals above, and ints of over 4300 digits
            raise Malformed(f"The body is not valid JSON: {exc}.") from None
        _check_value(data, settings.API_MAX_JSON_DEPTH)
        return data


class ErrorSerializer(serializers.Serializer):
    """Every refusal of the API."""

    error = serializers.CharField(help_text="A stable code, e.g. `malformed`, `not_assigned`, `throttled`.")
    detail = serializers.CharField(help_text="What was wrong, in words for a person.")


# DRF's codes renamed where the project already had a word for it.
_CODES = {"parse_error": "malformed", "invalid": "malformed"}


def _text(detail: Any) -> str:
    if isinstance(detail, dict):
        return "; ".join(f"{key}: {_text(value)}" for key, value in detail.items())
    if isinstance(detail, list):
        return " ".join(_text(value) for value in detail)
    return force_str(detail)


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    from rest_framework.views import exception_handler  # here: rest_framework.views imports this module's parser

    response = exception_handler(exc, context)
    if response is None:
        return None  # a server error: Django's handler logs it; the middleware answers JSON
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif not isinstance(exc, exceptions.APIException):
        exc = exceptions.PermissionDenied()
    code = getattr(exc, "default_code", "error")
    response.data = {"error": _CODES.get(code, code), "detail": _text(exc.detail)}
    return response


# Django's own error pages for what never reaches a DRF view (an unknown path, a server error).
_STATUS_CODES = {400: "malformed", 403: "permission_denied", 404: "not_found", 405: "method_not_allowed",
                 413: "too_large", 500: "server_error"}


def json_refusal(status_code: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse({"error": code, "detail": detail}, status=status_code)


def _is_json(content_type: str) -> bool:
    """application/json or a +json type; a wildcard (*/*) names no type and is refused, not guessed."""
    return content_type == "application/json" or (content_type.startswith("application/")
                                                  and content_type.endswith("+json") and "*" not in content_type)


def _empty_form(request: HttpRequest) -> bool:
    """A multipart body with no part at all (only its closing delimiter), which is what some clients send for a
    POST without data: no body, in effect."""
    boundary = request.content_params.get("boundary", "") if request.content_type == "multipart/form-data" else ""
    return bool(boundary) and request.body.strip() == f"--{boundary}--".encode()


def _read_chunked_body(request: HttpRequest) -> int | None:
    """A chunked body has no Content-Length, and Django would read it as empty: read it here (the server has taken
    the chunking off), at most one byte past the limit, and hand it to the request. None when it is over the limit."""
    limit = settings.API_MAX_BODY_BYTES
    data = request.META["wsgi.input"].read(limit + 1)
    if len(data) > limit:
        return None
    request._stream = LimitedStream(io.BytesIO(data), len(data))
    request.META["CONTENT_LENGTH"] = str(len(data))
    return len(data)


class APIEdgeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        length = request.META.get("CONTENT_LENGTH") or "0"
        if not _ASCII_INT.fullmatch(length):
            return json_refusal(400, "malformed", "Content-Length is not a number.")
        if int(length) > settings.API_MAX_BODY_BYTES:
            # Answered before the body is read: a client sending megabytes costs us nothing but this.
            return json_refusal(413, "too_large", too_large_message())
        if int(length) == 0 and "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            length = _read_chunked_body(request)
            if length is None:
                return json_refusal(413, "too_large", too_large_message())
        if int(length) > 0 and not _is_json(request.content_type or "") and not _empty_form(request):
            # Every body the API takes is JSON, including on actions that read none (next, priming, undo).
            return json_refusal(415, "unsupported_media_type",
                                f"Send the body as application/json, not {request.content_type or 'no type'!r}.")
        response = self.get_response(request)
        if response.status_code >= 400 and not response.get("Content-Type", "").startswith("application/json"):
            code = _STATUS_CODES.get(response.status_code, "error" if response.status_code < 500 else "server_error")
            detail = response.reason_phrase if response.status_code < 500 else "Server error; it has been logged."
            refusal = json_refusal(response.status_code, code, detail)
            if "Allow" in response:
                refusal["Allow"] = response["Allow"]
            return refusal
        return response

