"""No Docker engine runs here, so the compose file, the Dockerfile and the nginx
configuration are checked for the structure that the deployment relies on."""

import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = {"migrate", "web", "worker", "batch-worker", "training", "beat"}
LONG_RUNNING = {"db", "redis", "web", "nginx", "worker", "batch-worker", "training", "beat"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def command_text(service: dict) -> str:
    command = service["command"]
    return command if isinstance(command, str) else " ".join(command)


def test_every_part_of_the_service_is_there(services):
    assert set(services) == LONG_RUNNING | {"migrate"}


def test_long_running_services_have_healthchecks_and_restart(services):
    for name in LONG_RUNNING:
        assert services[name]["healthcheck"]["test"][0] in {"CMD", "CMD-SHELL"}, name
        assert services[name]["restart"] == "unless-stopped", name
    assert "classifier_site.container_probe" in services["web"]["healthcheck"]["test"]
    assert services["db"]["healthcheck"]["test"][1].startswith("pg_isready")
    assert services["redis"]["healthcheck"]["test"][1:] == ["redis-cli", "ping"]


def test_migrations_run_once_before_any_app_service_starts(services):
    migrate = services["migrate"]
    assert migrate["restart"] == "no" and migrate["healthcheck"] == {"disable": True}
    assert migrate["command"] == ["python", "manage.py", "migrate", "--no-input"]
    for name in APP_SERVICES - {"migrate"}:
        depends_on = services[name]["depends_on"]
        assert depends_on["migrate"]["condition"] == "service_completed_successfully", name
        assert depends_on["db"]["condition"] == "service_healthy", name
        assert depends_on["redis"]["condition"] == "service_healthy", name


def test_app_services_share_one_image_database_redis_and_storage(services):
    for name in APP_SERVICES:
        service = services[name]
        environment = service["environment"]
        assert service["image"] == "${APP_IMAGE:-image-classifier:latest}", name
        assert re.fullmatch(r"postgres://.+@db:5432/.+", environment["DATABASE_URL"]), name
        assert environment["REDIS_URL"] == "redis://redis:6379/0", name
        assert {"media:/srv/media", "models:/srv/models"} <= set(service["volumes"]), name
        assert environment["MEDIA_ROOT"] == "/srv/media", name
        assert environment["MODELS_DIR"] == "/srv/models", name


def test_secrets_must_be_given_and_never_default(services):
    app = services["web"]["environment"]
    assert app["DJANGO_SECRET_KEY"].startswith("${DJANGO_SECRET_KEY:?")
    assert "${POSTGRES_PASSWORD:?" in app["DATABASE_URL"]
    assert services["db"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")


def test_https_protections_stay_on_unless_explicitly_turned_off(services):
    """The image runs in production mode; compose must not quietly weaken it."""
    app = services["web"]["environment"]
    assert app["DJANGO_SECURE_SSL_REDIRECT"] == "${DJANGO_SECURE_SSL_REDIRECT:-true}"
    assert app["DJANGO_SECURE_COOKIES"] == "${DJANGO_SECURE_COOKIES:-true}"
    assert app["DJANGO_HSTS_SECONDS"] == "${DJANGO_HSTS_SECONDS:-31536000}"


def test_every_app_variable_is_one_the_code_reads(services):
    """A misspelt variable would be silently ignored: each must be read by a setting."""
    readers = (ROOT / "classifier_site" / "settings.py").read_text()
    readers += (ROOT / "gunicorn.conf.py").read_text()
    for name in APP_SERVICES:
        for variable in services[name]["environment"]:
            assert re.search(rf'env_\w+\(\s*"{variable}"', readers), f"{name}: {variable}"


def test_inference_workers_scale_and_each_has_its_own_node_name(services):
    worker = services["worker"]
    command = command_text(worker)
    assert "celery -A classifier_site worker --queues inference" in command
    assert "--hostname inference@%h" in command  # %h: the container's own hostname
    for name in APP_SERVICES | {"db", "redis"}:
        # A fixed name or a published port would stop `--scale` (and none is needed).
        assert "container_name" not in services[name] and "ports" not in services[name], name
    batch = command_text(services["batch-worker"])
    assert "--queues batch" in batch and "--prefetch-multiplier 1" in batch  # shared jobs
    assert "--hostname batch@%h" in batch
    assert "--queues training --concurrency 1" in command_text(services["training"])
    assert "celery -A classifier_site beat" in command_text(services["beat"])


def test_job_workers_yield_the_cpu_to_the_web_and_inference_workers(services):
    """cpu_shares: the containers' CPU weights (default 1024) when the host is busy."""
    for name in ("web", "worker"):
        assert services[name].get("cpu_shares", 1024) == 1024, name
    for name in ("batch-worker", "training"):
        assert services[name]["cpu_shares"] * 4 <= 1024, name
        assert "cpus" not in services[name], name  # no cap: idle cores are used


def test_only_nginx_is_published_and_it_fronts_the_web_service(services):
    nginx = services["nginx"]
    assert nginx["build"] == {"context": ".", "target": "nginx"}
    assert nginx["ports"] == ["${HTTP_PORT:-8080}:8080"]
    assert nginx["volumes"] == ["media:/srv/media:ro"]
    assert nginx["environment"]["WEB_UPSTREAM"] == "web:8000"
    assert "gunicorn" in command_text(services["web"])
    assert services["web"]["expose"] == ["8000"]


def test_nginx_serves_static_and_proxies_the_rest_media_included(services):
    template = (ROOT / "deploy" / "nginx.conf.template").read_text()
    assert "location /static/ {\n        alias /srv/static/;" in template
    # Images go to Django, which checks each link's signature first: nginx never
    # serves the media folder at a public location.
    assert "location /media/" not in template
    assert "set $web http://${WEB_UPSTREAM};" in template and "proxy_pass $web;" in template
    assert "listen 8080;" in template


def test_the_web_takes_the_client_address_nginx_appends_and_nothing_a_client_wrote(services):
    """nginx is the one proxy in front of the web; it resolves the hops of the proxies
    in front of itself (real_ip), trusting only NGINX_TRUSTED_PROXIES."""
    template = (ROOT / "deploy" / "nginx.conf.template").read_text()
    for name in APP_SERVICES:
        environment = services[name]["environment"]
        assert environment["API_TRUSTED_PROXY_COUNT"] == "1", name
        assert "API_CLIENT_ADDRESS_HEADER" not in environment, name
    assert "include /etc/nginx/conf.d/trusted-proxies.inc;" in template
    assert "real_ip_header X-Forwarded-For;" in template
    assert "real_ip_recursive on;" in template
    # Appended after real_ip: the right-most entry is the client's own address.
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in template
    # X-Forwarded-Proto too is believed from the trusted proxies only.
    assert 'map "$from_trusted_proxy:$http_x_forwarded_proto" $client_scheme {' in template
    assert "proxy_set_header X-Forwarded-Proto $client_scheme;" in template


def test_nginx_trusts_no_proxy_unless_told_and_the_image_writes_the_ranges_it_is_told(
    services, tmp_path
):
    assert services["nginx"]["environment"]["NGINX_TRUSTED_PROXIES"] == (
        "${NGINX_TRUSTED_PROXIES:-}"
    )
    dockerfile = (ROOT / "Dockerfile").read_text()
    nginx_stage = dockerfile.split("AS nginx\n")[1]
    assert 'NGINX_TRUSTED_PROXIES=""' in nginx_stage
    # Before the entrypoint's 20-envsubst-on-templates.sh, as the image runs them in order.
    assert (
        "COPY --chmod=755 deploy/nginx-trusted-proxies.sh "
        "/docker-entrypoint.d/15-trusted-proxies.sh"
    ) in nginx_stage
    written = write_trusted_proxies(tmp_path, "10.0.0.0/8, 2001:db8::/32 192.0.2.7")
    assert [line for line in written.splitlines() if line.startswith("set_real_ip_from")] == [
        "set_real_ip_from 10.0.0.0/8;",
        "set_real_ip_from 2001:db8::/32;",
        "set_real_ip_from 192.0.2.7;",
    ]
    assert "geo $realip_remote_addr $from_trusted_proxy {" in written
    assert "    10.0.0.0/8 1;" in written and "    default 0;" in written
    nobody = write_trusted_proxies(tmp_path, "")
    assert "set_real_ip_from" not in nobody and "    default 0;" in nobody


@pytest.mark.parametrize("bad", ["10.0.0.0/8;", "all", "10.0.0.0/8 { default 1; }", "*"])
def test_a_trusted_proxy_that_is_no_address_stops_nginx_from_starting(tmp_path, bad):
    with pytest.raises(subprocess.CalledProcessError) as failure:
        write_trusted_proxies(tmp_path, bad)
    assert "is not an address or CIDR range" in failure.value.stderr


def write_trusted_proxies(folder: Path, ranges: str) -> str:
    output = folder / "trusted-proxies.inc"
    subprocess.run(
        ["sh", str(ROOT / "deploy" / "nginx-trusted-proxies.sh"), str(output)],
        env={"PATH": "/usr/bin:/bin", "NGINX_TRUSTED_PROXIES": ranges},
        check=True,
        capture_output=True,
        text=True,
    )
    return output.read_text()


def test_data_lives_on_named_volumes(compose, services):
    assert set(compose["volumes"]) == {"postgres-data", "redis-data", "media", "models"}
    assert services["db"]["volumes"] == ["postgres-data:/var/lib/postgresql/data"]
    assert services["redis"]["volumes"] == ["redis-data:/data"]


def test_image_is_multi_stage_non_root_with_a_healthcheck_for_every_role():
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)(?: AS (\w+))?$", dockerfile, flags=re.MULTILINE)
    assert [alias for _, alias in stages] == ["build", "app", "nginx", ""]
    assert stages[-1][0] == "app"  # the application is the default target
    app_stage = dockerfile.split("AS app\n")[1].split("\nFROM ")[0]
    assert "\nUSER classifier\n" in app_stage
    assert 'CMD ["python", "-m", "classifier_site.container_probe"]' in app_stage
    assert "COPY --from=app /app/staticfiles /srv/static" in dockerfile
    assert "nginx-unprivileged" in dockerfile  # nginx does not run as root either


def test_image_installs_the_runtime_requirements_without_the_test_tools():
    dockerfile = (ROOT / "Dockerfile").read_text()
    marker = re.search(r"sed '/\^(.+?)/,\$d'", dockerfile).group(1)
    requirements = (ROOT / "requirements.txt").read_text()
    runtime, tools = requirements.split(marker)
    for package in ("Django==", "celery==", "gunicorn==", "tensorflow-cpu==", "psycopg"):
        assert package in runtime
    for package in ("pytest==", "locust==", "ruff==", "schemathesis=="):
        assert package in tools and package not in runtime


def test_secrets_data_and_environments_stay_out_of_the_image():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".git", ".venv", "data", "media", "models", "*.sqlite3*"} <= set(ignored)


def test_media_is_sent_by_nginx_only_after_django_checked_the_request(services):
    """Django answers a checked /media/ request with X-Accel-Redirect to an internal
    location that serves the media volume; no client can request that location."""
    template = (ROOT / "deploy" / "nginx.conf.template").read_text()
    location = services["web"]["environment"]["MEDIA_ACCEL_REDIRECT"]
    assert location == "/protected-media/"
    block = template.split(f"location {location} {{\n", 1)[1].split("}", 1)[0]
    assert block.split()[:4] == ["internal;", "alias", "/srv/media/;", "add_header"]
    media_root = services["web"]["environment"]["MEDIA_ROOT"]
    assert f"media:{media_root}:ro" in services["nginx"]["volumes"]
    for name in APP_SERVICES:
        assert services[name]["environment"]["MEDIA_ACCEL_REDIRECT"] == location, name
