# Two images. `app` (the default, the last stage): the web site and the workers. CUDA comes with the torch wheel;
# the GPU worker needs the NVIDIA container toolkit on the host (see docker-compose.yml). `proxy`: Debian's nginx
# with deploy/nginx's configuration and the collected static files, in front of the web site.
FROM python:3.12-slim AS app

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DJANGO_SETTINGS_MODULE=config.settings.base \
    CREATIVE_DATA_ROOT=/srv/data \
    MEDIA_ROOT=/srv/media \
    STATIC_ROOT=/srv/static

RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq5 curl \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# collectstatic needs settings but no database; the key is only for this build step.
RUN SECRET_KEY=build-only-not-secret DEBUG=false python manage.py collectstatic --noinput -v 0

RUN useradd --create-home --uid 1000 app && mkdir -p /srv/data /srv/media && chown -R app /srv
USER app

# gunicorn listens for the proxy only: compose publishes no port of this image (deploy/gunicorn.conf.py) and
# tells the site that a proxy is in front (BEHIND_PROXY).
EXPOSE 8000
CMD ["gunicorn", "-c", "deploy/gunicorn.conf.py", "config.wsgi:application"]


FROM debian:bookworm-slim AS proxy
RUN apt-get update \
    && apt-get install -y --no-install-recommends nginx gettext-base \
    && rm -rf /var/lib/apt/lists/*
COPY deploy/nginx/nginx.conf.template /etc/creative/nginx.conf.template
COPY --from=app /srv/static /srv/static
# nginx runs as www-data from the start, in a prefix of its own (the config's paths are relative to it).
RUN mkdir -p /var/lib/creative-proxy && chown www-data /var/lib/creative-proxy
USER www-data
WORKDIR /var/lib/creative-proxy
ENV NGINX_LISTEN=8080 STATIC_ROOT=/srv/static PAGES_UPSTREAM=web:8000 API_UPSTREAM=web:8000
EXPOSE 8080
CMD ["sh", "-c", "mkdir -p tmp/body tmp/proxy tmp/fastcgi tmp/uwsgi tmp/scgi && envsubst '${NGINX_LISTEN} ${STATIC_ROOT} ${PAGES_UPSTREAM} ${API_UPSTREAM}' < /etc/creative/nginx.conf.template > nginx.conf && exec nginx -e stderr -p /var/lib/creative-proxy -c /var/lib/creative-proxy/nginx.conf -g 'daemon off;'"]


# The default image: the app.
FROM app
