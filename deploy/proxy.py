"""The nginx configuration of the reverse proxy (deploy/nginx/nginx.conf.template), filled in and run.

`python -m deploy.proxy PREFIX --listen 8080 --static-root /srv/static --pages 127.0.0.1:8001 --api 127.0.0.1:8002`
writes PREFIX/nginx.conf (and the folders nginx writes to); then `nginx -p PREFIX -c PREFIX/nginx.conf` serves it.
The proxy image fills in the same template with envsubst. The tests and the launch benchmark use `Proxy`.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from string import Template

TEMPLATE = Path(__file__).resolve().parent / "nginx" / "nginx.conf.template"
PLACEHOLDERS = ("NGINX_LISTEN", "STATIC_ROOT", "PAGES_UPSTREAM", "API_UPSTREAM")
TEMP_FOLDERS = ("body", "proxy", "fastcgi", "uwsgi", "scgi")


def render(listen: str, static_root: Path | str, pages: str, api: str | None = None) -> str:
    """The template with its placeholders filled in; nginx's own $variables are left as they are."""
    values = {"NGINX_LISTEN": listen, "STATIC_ROOT": str(static_root).rstrip("/"), "PAGES_UPSTREAM": pages,
              "API_UPSTREAM": api or pages}
    text = Template(TEMPLATE.read_text()).safe_substitute(values)
    left = sorted(set(re.findall(r"\$\{(\w+)\}", text)))
    if left:
        raise ValueError(f"the template has placeholders without a value: {', '.join(left)}")
    return text


def write_prefix(prefix: Path, config: str) -> Path:
    """PREFIX/nginx.conf and the temporary folders nginx writes request bodies to; the path of the config."""
    for name in TEMP_FOLDERS:
        (prefix / "tmp" / name).mkdir(parents=True, exist_ok=True)
    path = prefix / "nginx.conf"
    path.write_text(config)
    return path


def nginx_binary() -> str:
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx", "/sbin/nginx") if os.access(p, os.X_OK)), None)
    if not found:
        raise FileNotFoundError("nginx is not installed (Debian: apt-get install nginx-light)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proxy:
    """nginx in the foreground on a loopback port, in a prefix of its own, until stop()."""

    def __init__(self, prefix: Path, static_root: Path | str, pages: str, api: str | None = None) -> None:
        self.port = free_port()
        self.prefix = prefix
        self.config = write_prefix(prefix, render(f"127.0.0.1:{self.port}", static_root, pages, api))
        self.log = prefix / "nginx.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [nginx_binary(), "-e", "stderr", "-p", str(prefix), "-c", str(self.config), "-g", self.globals()],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self._wait_listening()

    def _wait_listening(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.log.read_text(errors='replace')}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"nginx did not listen on {self.port}: {self.log.read_text(errors='replace')}")

    @staticmethod
    def globals() -> str:
        # Started by root (a container, CI), nginx would hand its workers to "nobody", who can read neither a
        # private temporary prefix nor the static files in it; they keep the starting user instead.
        return "daemon off;" + (" user root;" if os.geteuid() == 0 else "")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGQUIT)  # graceful: finish what is in flight
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=15)


def main() -> None:
    parser = argparse.ArgumentParser(description="Write the proxy's nginx.conf into a prefix folder.")
    parser.add_argument("prefix", type=Path)
    parser.add_argument("--listen", default="80", help="port or address:port")
    parser.add_argument("--static-root", required=True, help="STATIC_ROOT (after collectstatic)")
    parser.add_argument("--pages", required=True, help="gunicorn for the pages, host:port or unix:/path")
    parser.add_argument("--api", help="gunicorn for the labels under /api/ (default: the pages' one)")
    args = parser.parse_args()
    print(write_prefix(args.prefix, render(args.listen, args.static_root, args.pages, args.api)))


if __name__ == "__main__":
    main()
