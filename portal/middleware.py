"""Site-wide login requirement: every page needs a session except login and static files.

The API authenticates on its own (bearer tokens or session) and answers 401/403 instead of
redirecting, so it is exempt here.
"""

import json
import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse

from portal.clientaddr import from_trusted_proxy

FORWARDED_HEADERS = (
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_FORWARDED",
    "HTTP_X_REAL_IP",
)


class TrustedProxyMiddleware:
    """Drops forwarded headers unless the peer is a trusted proxy (TRUSTED_PROXIES), so a
    client can neither claim https nor pick the address it is locked out and audited under."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not from_trusted_proxy(request):
            for name in FORWARDED_HEADERS:
                request.META.pop(name, None)
        return self.get_response(request)


EXEMPT_PREFIXES = ("/auth/login/", "/api/", "/static/", "/healthz", "/favicon.ico")


class LoginRequiredMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.user.is_authenticated and not request.path.startswith(EXEMPT_PREFIXES):
            return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
        return self.get_response(request)


CSP_RELAXED_PREFIXES = ("/api/v1/docs/",)


class ContentSecurityPolicyMiddleware:
    """Sends the Content-Security-Policy from settings; Swagger UI's page needs inline script."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = settings.CONTENT_SECURITY_POLICY
        if request.path.startswith(CSP_RELAXED_PREFIXES):
            policy = policy.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'")
            policy = policy.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
        response.headers.setdefault("Content-Security-Policy", policy)
        return response


api_log = logging.getLogger("portal.api")


class ApiAccessLogMiddleware:
    """One log line per API call, a JSON object: who (user and API token id), what, the answer
    and how long. SIEMs ingesting the portal's own logs can attribute every call to an
    integration."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith("/api/"):
            return self.get_response(request)
        started = time.monotonic()
        response = self.get_response(request)
        if response.status_code >= 400 and "html" in response.get("Content-Type", ""):
            # Django's own error pages (an unknown URL, an unhandled exception; the debug page
            # in DEBUG): API clients get JSON, and no stack trace or settings.
            response = JsonResponse({"detail": response.reason_phrase}, status=response.status_code)
        token = getattr(response, "renderer_context", {}).get("request")
        auth = getattr(token, "auth", None)
        user = getattr(token, "user", None) or getattr(request, "user", None)
        # One JSON object per line: json.dumps escapes every control character, so nothing in
        # a path (`%0a` decodes to a newline) or a username can start a forged log line.
        api_log.info(
            "%s",
            json.dumps(
                {
                    "event": "api",
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "user": getattr(user, "username", "") or None,
                    "token": getattr(auth, "pk", None),
                    "ms": round((time.monotonic() - started) * 1000),
                    "ip": request.META.get("REMOTE_ADDR"),
                },
                separators=(",", ":"),
            ),
        )
        return response
