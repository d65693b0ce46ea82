"""gunicorn behind the proxy (deploy/nginx): `gunicorn -c deploy/gunicorn.conf.py config.wsgi:application`.

nginx reads every request body and buffers every response, so a sync worker never waits for a client, only for
the database: sync workers, a few per core, serve the most requests per CPU second (docs/howto/production.md has
the measurement). Values come from the environment so compose can run a second pool from the same file.
"""

import os

# Compose: reachable on the compose network only (no port of the web services is published); on a host, keep
# it on loopback (GUNICORN_BIND=127.0.0.1:8000) with nginx in front.
bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "3"))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "sync")
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
# A training or report view may run long; nginx waits a little longer (proxy_read_timeout 130 s).
timeout = 120
graceful_timeout = 30
# Requests arrive from nginx only, one per connection (sync workers close it).
keepalive = 2
