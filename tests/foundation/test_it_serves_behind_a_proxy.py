"""The production proxy: Debian's nginx with the repository's configuration, in front of gunicorn.

nginx runs for real, in a temporary prefix with deploy/nginx/nginx.conf.template filled in for a free port. The
upstream is a real gunicorn where the Django side matters (slow clients), else a small server that echoes what
reached it (headers, routing), or nothing at all (what nginx refuses itself, and a site that is down).
"""

from __future__ import annotations

import json
import time

import pytest

from deploy.proxy import Proxy, free_port
from tests.foundation.helpers import run_django
from tests.foundation.proxy import EchoServer, Gunicorn, get, open_slow_body, raw_request, static_root, still_held

SLOW_CLIENTS = 20


def assert_json_refusal(status: int, headers: dict[str, str], body: bytes, expected: int, code: str) -> None:
    """The API's shape (README, "API"): {"error": code, "detail": message} as JSON."""
    assert status == expected, (status, body[:300])
    assert headers["content-type"].startswith("application/json"), headers
    answer = json.loads(body)
    assert answer["error"] == code and isinstance(answer["detail"], str) and answer["detail"], answer


def assert_html(status: int, headers: dict[str, str], body: bytes, expected: int) -> None:
    assert status == expected, (status, body[:300])
    assert headers["content-type"].startswith("text/html"), headers
    assert b"<html>" in body


@pytest.fixture
def down_proxy(tmp_path):
    """nginx in front of a port where nothing listens: only what nginx answers itself comes back."""
    proxy = Proxy(tmp_path / "nginx", static_root(tmp_path), f"127.0.0.1:{free_port()}")
    yield proxy
    proxy.stop()


@pytest.fixture
def echo_proxy(tmp_path):
    """nginx in front of two echo servers: "pages" and "api"."""
    pages, api = EchoServer("pages"), EchoServer("api")
    proxy = Proxy(tmp_path / "nginx", static_root(tmp_path), pages.address, api.address)
    yield proxy
    proxy.stop()
    pages.stop()
    api.stop()


@pytest.fixture
def gunicorn_proxy(tmp_path):
    """nginx in front of a real gunicorn with two sync workers."""
    server = Gunicorn(workers=2)
    proxy = Proxy(tmp_path / "nginx", static_root(tmp_path), f"127.0.0.1:{server.port}")
    yield proxy
    proxy.stop()
    server.stop()


def normal_request_while_slow_clients_wait(port: int) -> tuple[int, float, int]:
    """(status of a normal page, seconds it took, slow connections still held when it answered) with
    SLOW_CLIENTS connections each holding 20 of the 1000 bytes of a body they announced: half a form (the login
    page), half a label (the API)."""
    slow = [open_slow_body(port, "/accounts/login/" if i % 2 else "/api/campaigns/1/labels/")
            for i in range(SLOW_CLIENTS)]
    try:
        started = time.monotonic()
        # Generous: on a busy machine a page can take seconds; a stalled one never comes.
        status = raw_request(port, b"GET /accounts/login/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
                             timeout=25)[0]
        elapsed = time.monotonic() - started
        return status, elapsed, sum(still_held(sock) for sock in slow)
    finally:
        for sock in slow:
            sock.close()


def test_it_serves_pages_while_slow_clients_send_their_bodies(gunicorn_proxy):
    # Straight to gunicorn, the first two slow bodies hold both workers and this request never gets one.
    status, elapsed, held = normal_request_while_slow_clients_wait(gunicorn_proxy.port)
    print(f"a page through the proxy with {SLOW_CLIENTS} slow bodies held open: {elapsed * 1000:.0f} ms")
    assert status == 200
    assert held == SLOW_CLIENTS  # nginx still waits for their bodies; no worker was given one


def test_it_answers_a_long_query_under_the_api_as_json(down_proxy):
    assert_json_refusal(*get(down_proxy.port, "/api/campaigns/?q=" + "x" * 10_000), 414, "uri_too_long")


def test_it_answers_a_long_query_on_a_page_as_html(down_proxy):
    assert_html(*get(down_proxy.port, "/annotate/?q=" + "x" * 10_000), 414)


def test_it_answers_a_malformed_content_length_under_the_api_as_json(down_proxy):
    request = (b"POST /api/campaigns/1/labels/ HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
               b"Content-Length: abc\r\n\r\n{}")
    assert_json_refusal(*raw_request(down_proxy.port, request), 400, "malformed")


def test_it_answers_a_huge_header_under_the_api_as_json(down_proxy):
    big = "X-Padding: " + "y" * 9000 + "\r\n"
    assert_json_refusal(*get(down_proxy.port, "/api/campaigns/", big), 431, "headers_too_large")
    assert_html(*get(down_proxy.port, "/annotate/", big), 400)


def _chunked(total: int) -> bytes:
    chunk = b"x" * 8192
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(total // len(chunk)))
    return body + b"0\r\n\r\n"


def test_it_refuses_a_chunked_body_over_the_api_limit_as_json(down_proxy):
    request = (b"POST /api/campaigns/1/labels/ HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n" + _chunked(300 * 1024))
    assert_json_refusal(*raw_request(down_proxy.port, request), 413, "too_large")


def test_it_hands_a_small_chunked_body_on_with_its_length(echo_proxy):
    """gunicorn and Django read a chunked body as empty; nginx passes it on with a Content-Length."""
    request = (b"POST /api/campaigns/1/labels/ HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
               b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + _chunked(16 * 1024))
    status, _, body = raw_request(echo_proxy.port, request)
    seen = json.loads(body)
    assert status == 200 and seen["body_bytes"] == 16 * 1024
    assert "Transfer-Encoding" not in seen["headers"]


def test_it_answers_json_under_the_api_when_the_site_is_down(down_proxy):
    assert_json_refusal(*get(down_proxy.port, "/api/campaigns/"), 502, "unavailable")
    assert_html(*get(down_proxy.port, "/annotate/"), 502)


def test_it_serves_static_files_itself(down_proxy):
    status, headers, body = get(down_proxy.port, "/static/css/site.css")
    assert status == 200 and headers["content-type"].startswith("text/css")
    assert body == (down_proxy.prefix.parent / "static" / "css" / "site.css").read_bytes()
    assert "max-age" in headers["cache-control"]


def test_it_serves_no_media_folder(gunicorn_proxy):
    """Sample images reach annotators only through views that check access: /media/ is Django's, a 404."""
    assert get(gunicorn_proxy.port, "/media/samples/1/0.png")[0] == 404


def test_it_tells_the_site_the_visitor_and_the_scheme(echo_proxy):
    spoofed = "X-Forwarded-Proto: https\r\nX-Real-IP: 203.0.113.9\r\nX-Forwarded-For: 203.0.113.9\r\n"
    seen = json.loads(get(echo_proxy.port, "/annotate/", spoofed)[2])["headers"]
    assert seen["X-Forwarded-Proto"] == "http"  # what nginx itself was spoken to with
    assert seen["X-Real-IP"] == "127.0.0.1"  # the address nginx saw, whatever the client claimed
    assert seen["X-Forwarded-For"].endswith("127.0.0.1")


def test_it_routes_labels_and_arrivals_to_their_own_pools(echo_proxy):
    def upstream(path: str) -> str:
        return json.loads(get(echo_proxy.port, path)[2])["upstream"]

    assert upstream("/api/campaigns/3/labels/") == "api"
    assert upstream("/api/campaigns/3/next/") == "pages"  # the first image of a page load is part of an arrival
    assert upstream("/annotate/study/abc/def/") == "pages"


SCHEME = (
    "from django.conf import settings\n"
    "from django.test import RequestFactory\n"
    "request = RequestFactory().get('/', HTTP_X_FORWARDED_PROTO='https')\n"
    "print(request.is_secure(), getattr(settings, 'RATELIMIT_IP_META_KEY', '-'))\n"
)


def _production(tmp_path, **extra: str) -> dict[str, str]:
    return {"DEBUG": "false", "SECRET_KEY": "x" * 60, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", **extra}


def test_it_trusts_no_forwarded_scheme_without_a_proxy(tmp_path):
    """Spoken to directly over HTTP, a client's `X-Forwarded-Proto: https` does not make the request secure."""
    result = run_django(SCHEME, _production(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2] == "False"
    assert result.stdout.split()[-1] == "-"  # the rate limits count the address the request came from


def test_it_trusts_the_forwarded_scheme_behind_a_proxy(tmp_path):
    # RATELIMIT_IP_META_KEY empty, as .env.example leaves it
    result = run_django(SCHEME, _production(tmp_path, BEHIND_PROXY="true", RATELIMIT_IP_META_KEY=""))
    assert result.returncode == 0, result.stderr
    secure, meta_key = result.stdout.split()[-2:]
    assert secure == "True"
    assert meta_key == "HTTP_X_REAL_IP"  # the rate limits count the address nginx saw
