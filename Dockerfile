# syntax=docker/dockerfile:1
# Build stage: compile/install the Python dependencies into a virtual environment.
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install -r /tmp/requirements.txt

# Runtime stage: the virtual environment and the code, run as a non-root user.
FROM python:3.11-slim-bookworm
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_PRODUCTION=true \
    MEDIA_ROOT=/srv/media \
    MODELS_DIR=/srv/models \
    STATIC_ROOT=/app/staticfiles
RUN useradd --create-home --uid 10001 classifier \
    && mkdir -p /srv/media /srv/models \
    && chown classifier:classifier /srv/media /srv/models
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=classifier:classifier . /app
RUN DJANGO_SECRET_KEY=build-only python manage.py collectstatic --no-input
USER classifier
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/', timeout=4)"
CMD ["gunicorn", "classifier_site.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
