# syntax=docker/dockerfile:1
# One file, two images:
#   default target: the application; web, workers and beat differ only by command;
#   --target nginx: nginx serving the collected static files and proxying the rest.

# Build: the runtime requirements (not the development and test tools at the end of
# requirements.txt) into a virtual environment.
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN sed '/^# Development and test tools/,$d' /tmp/requirements.txt > /tmp/runtime.txt \
    && /opt/venv/bin/pip install -r /tmp/runtime.txt

# Application: the virtual environment and the code, run as a non-root user.
FROM python:3.11-slim-bookworm AS app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_PRODUCTION=true \
    WEB_BIND=0.0.0.0:8000 \
    MEDIA_ROOT=/srv/media \
    MODELS_DIR=/srv/models \
    STATIC_ROOT=/app/staticfiles
RUN useradd --create-home --uid 10001 classifier \
    && mkdir -p /srv/media /srv/models \
    && chown classifier:classifier /srv/media /srv/models
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=classifier:classifier . /app
RUN DJANGO_SECRET_KEY=build-only python manage.py collectstatic --no-input --verbosity 0
USER classifier
EXPOSE 8000
# Checks whatever the container runs: gunicorn, a worker or beat (see the module).
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-m", "classifier_site.container_probe"]
CMD ["gunicorn", "classifier_site.wsgi:application", "--config", "gunicorn.conf.py"]

# nginx (unprivileged: listens on 8080 as a non-root user) with the static files.
FROM nginxinc/nginx-unprivileged:1.27-alpine AS nginx
ENV NGINX_MAX_BODY_SIZE=100m \
    NGINX_RESOLVER=127.0.0.11 \
    NGINX_TRUSTED_PROXIES="" \
    WEB_UPSTREAM=web:8000
COPY --from=app /app/staticfiles /srv/static
COPY deploy/nginx.conf.template /etc/nginx/templates/default.conf.template
# Run by the image's entrypoint before nginx starts: NGINX_TRUSTED_PROXIES, as nginx lines.
COPY --chmod=755 deploy/nginx-trusted-proxies.sh /docker-entrypoint.d/15-trusted-proxies.sh
HEALTHCHECK --interval=30s --timeout=5s --retries=3 \
    CMD ["wget", "--quiet", "--output-document=/dev/null", "http://127.0.0.1:8080/nginx-health"]

# The application is the default target.
FROM app
