# One image for the web site and the workers. CUDA comes with the torch wheel; the GPU worker needs
# the NVIDIA container toolkit on the host (see docker-compose.yml).
FROM python:3.12-slim

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

EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "120"]
