"""The real nginx (deploy/nginx/nginx.conf.template) in front of a real gunicorn or a header-echoing server."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from deploy.proxy import free_port
from tests.foundation.helpers import REPO


def raw_request(port: int, data: bytes, timeout: float = 30) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are (http.client refuses the malformed ones); (status, headers, body) of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def get(port: int, path: str, headers: str = "") -> tuple[int, dict[str, str], bytes]:
    return raw_request(port, f"GET {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Connection: close\r\n\r\n".encode())


def open_slow_body(port: int, path: str = "/accounts/login/") -> socket.socket:
    """A client that announces a 1000-byte form body, sends 20 bytes of it and then waits. Its CSRF cookie makes
    Django read the body (to find the form's token), so a worker that got this request would wait for the rest."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                 f"Cookie: csrftoken={'a' * 32}\r\nContent-Length: 1000\r\n\r\n".encode() + b"username=slowclient&")
    return sock


def still_held(sock: socket.socket) -> bool:
    """The connection is open and the server has answered nothing on it yet."""
    sock.setblocking(False)
    try:
        return not sock.recv(1, socket.MSG_PEEK)  # b"": closed by the server
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        sock.setblocking(True)


class Gunicorn:
    """gunicorn with the test settings (this run's database) on a free loopback port."""

    def __init__(self, workers: int = 2, extra_env: dict[str, str] | None = None) -> None:
        from django.conf import settings

        self.port = free_port()
        env = dict(os.environ)  # as the Celery workers of the tests: the run's DATABASE_URL and broker
        env.update(DJANGO_SETTINGS_MODULE="config.settings.test", TEST_RUN_ID=settings.RUN_ID, USE_TEST_DATABASE="1",
                   **(extra_env or {}))
        # A long worker timeout: a worker stuck on a slow body is not rescued by gunicorn's watchdog either.
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{self.port}",
             "--workers", str(workers), "--timeout", "300", "--log-level", "warning"],
            cwd=REPO, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        self.wait_ready()

    def wait_ready(self, timeout: float = 120) -> None:
        """Until a page answers: gunicorn imports Django in each worker, which takes long on a busy machine."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.proc.stderr.read().decode(errors='replace')}")
            try:
                if get(self.port, "/accounts/login/")[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise TimeoutError("gunicorn did not answer")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)


class EchoServer:
    """An upstream that answers every request with what reached it: its name, the headers and the body length."""

    def __init__(self, name: str) -> None:
        class Handler(BaseHTTPRequestHandler):
            def _echo(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                answer = json.dumps({"upstream": name, "path": self.path, "headers": dict(self.headers.items()),
                                     "body_bytes": len(body)}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST = do_HEAD = _echo

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def static_root(tmp: Path) -> Path:
    """A STATIC_ROOT as collectstatic leaves it, with the site's stylesheet."""
    root = tmp / "static"
    (root / "css").mkdir(parents=True)
    (root / "css" / "site.css").write_bytes((REPO / "static" / "css" / "site.css").read_bytes())
    return root
