"""Development settings (debug on, no allowed hosts) only on a loopback address:
gunicorn refuses anything else at start (gunicorn.conf.py's on_starting), whatever
decided the address (--bind, WEB_BIND)."""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from classifier_site.exposure import is_loopback, refusal
from harness.helpers import free_port
from harness.web import gunicorn_command

ROOT = Path(__file__).resolve().parent.parent.parent
START_TIMEOUT_SECONDS = 120


def gunicorn(*arguments: str, **environment: str) -> subprocess.Popen:
    """The web server as the Procfile and the image start it, one process."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "WEB_"))}
    return subprocess.Popen(
        gunicorn_command("--workers", "1", *arguments),
        cwd=ROOT,
        env={**inherited, **environment},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def refused_output(server: subprocess.Popen) -> str:
    try:
        output, _ = server.communicate(timeout=START_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        server.kill()
        output, _ = server.communicate()
        pytest.fail(f"gunicorn started instead of refusing:\n{output}")
    assert server.returncode != 0
    return output


def answering(server: subprocess.Popen, port: int) -> bool:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline and server.poll() is None:
        try:
            requests.get(f"http://127.0.0.1:{port}/api/v1/health/live/", timeout=5)
            return True
        except requests.ConnectionError:
            time.sleep(0.2)
    return False


def stop(server: subprocess.Popen) -> None:
    server.send_signal(signal.SIGQUIT)  # gunicorn's quick shutdown
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def test_a_public_bind_with_debug_on_is_refused_with_what_to_set():
    server = gunicorn("--bind", f"0.0.0.0:{free_port()}", DJANGO_DEBUG="true")
    output = refused_output(server)
    assert "Refusing to listen on 0.0.0.0:" in output
    assert "Set DJANGO_DEBUG=false and DJANGO_ALLOWED_HOSTS=<the host names" in output
    assert "Listening at" not in output


@pytest.mark.parametrize(
    "bind", ["[::]:{port}", ":{port}", "unix:{folder}/web.sock"], ids=["ipv6-any", "any", "unix"]
)
def test_every_bind_other_machines_may_reach_is_refused_too(bind, tmp_path):
    """A unix socket counts: a proxy in front may forward the network to it."""
    address = bind.format(port=free_port(), folder=tmp_path)
    output = refused_output(gunicorn(WEB_BIND=address, DJANGO_DEBUG="true"))
    assert "Refusing to listen on" in output


def test_production_settings_only_half_set_are_refused_naming_the_rest():
    server = gunicorn("--bind", f"0.0.0.0:{free_port()}", DJANGO_DEBUG="false")
    output = refused_output(server)
    assert "Set DJANGO_ALLOWED_HOSTS=<the host names" in output
    assert "DJANGO_DEBUG=false and" not in output


def test_the_debug_page_is_never_served_on_a_public_bind():
    """The issue as reported: `make run HOST=0.0.0.0`'s settings, a bad Host header."""
    port = free_port()
    server = gunicorn("--bind", f"0.0.0.0:{port}", DJANGO_DEBUG="true")
    try:
        if answering(server, port):
            page = requests.get(f"http://127.0.0.1:{port}/", headers={"Host": "evil.example"})
            assert "DisallowedHost" not in page.text, "served Django's debug page"
            pytest.fail("gunicorn answered on 0.0.0.0 with debug on")
    finally:
        stop(server)


def test_with_production_settings_a_public_bind_serves_plain_error_pages():
    port = free_port()
    server = gunicorn(
        "--bind", f"0.0.0.0:{port}", DJANGO_DEBUG="false", DJANGO_ALLOWED_HOSTS="localhost"
    )
    try:
        assert answering(server, port), server.stdout.read()
        page = requests.get(f"http://127.0.0.1:{port}/", headers={"Host": "evil.example"})
        assert page.status_code == 400
        assert "DisallowedHost" not in page.text and "SECRET_KEY" not in page.text
    finally:
        stop(server)


def test_loopback_keeps_debug_mode_as_make_run_starts_it():
    port = free_port()
    server = gunicorn("--bind", f"127.0.0.1:{port}", DJANGO_DEBUG="true")
    try:
        assert answering(server, port), server.stdout.read()
    finally:
        stop(server)


@pytest.mark.parametrize(
    ("bind", "loopback"),
    [
        ("127.0.0.1:8000", True),
        ("127.0.0.2:8000", True),
        ("localhost:8000", True),
        ("[::1]:8000", True),
        ("0.0.0.0:8000", False),
        ("192.0.2.1:8000", False),
        ("[::]:8000", False),
        (":8000", False),
        ("unix:/run/web.sock", False),
        ("fd://3", False),
        ("no-such-host.invalid:8000", False),
    ],
)
def test_which_binds_count_as_loopback(bind, loopback):
    assert is_loopback(bind) is loopback


@pytest.mark.parametrize("debug", ["true", "1", "yes", "on", "TRUE", "nonsense"])
def test_debug_counts_as_on_unless_clearly_off(debug):
    environment = {"DJANGO_DEBUG": debug, "DJANGO_ALLOWED_HOSTS": "classifier.example.com"}
    assert "DJANGO_DEBUG=false" in refusal(["0.0.0.0:8000"], environment)


def test_production_settings_or_loopback_pass():
    production = {"DJANGO_DEBUG": "false", "DJANGO_ALLOWED_HOSTS": "classifier.example.com"}
    assert refusal(["0.0.0.0:8000"], production) is None
    assert refusal(["0.0.0.0:8000"], {**production, "DJANGO_DEBUG": ""}) is None
    assert refusal(["127.0.0.1:8000", "[::1]:8000"], {"DJANGO_DEBUG": "true"}) is None
