"""deploy/nginx.conf.template run by a real nginx in front of a server that echoes
the forwarded headers: the client's address and scheme come from trusted proxies
only. Needs an nginx binary with the realip module (Debian's `nginx`; or point
NGINX_BINARY at one); skipped without it, except in CI. Traffic stays on 127.0.0.1."""

import json
import os
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from harness.helpers import free_port

ROOT = Path(__file__).resolve().parent.parent
NGINX = os.environ.get("NGINX_BINARY") or shutil.which("nginx") or "/usr/sbin/nginx"
# CI installs nginx (.ci/run): there a missing binary fails instead of skipping.
pytestmark = pytest.mark.skipif(
    not Path(NGINX).is_file() and not os.environ.get("CI"), reason="no nginx binary"
)
FORWARDED = ("X-Real-IP", "X-Forwarded-For", "X-Forwarded-Proto")


class Echo(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({name: self.headers.get(name) for name in FORWARDED}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *arguments) -> None:
        pass


@pytest.fixture(scope="module")
def upstream():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def nginx(upstream, tmp_path):
    """nginx(trusted_proxies) -> a function sending a request with given headers
    through it (from 127.0.0.1), returning the forwarded headers the web received."""
    started = []

    def start(trusted_proxies: str):
        include = tmp_path / "trusted-proxies.inc"
        subprocess.run(
            ["sh", str(ROOT / "deploy" / "nginx-trusted-proxies.sh"), str(include)],
            env={"PATH": "/usr/bin:/bin", "NGINX_TRUSTED_PROXIES": trusted_proxies},
            check=True,
        )
        port = free_port()
        site = (ROOT / "deploy" / "nginx.conf.template").read_text()
        for name, value in {
            "${NGINX_MAX_BODY_SIZE}": "1m",
            "${NGINX_RESOLVER}": "127.0.0.1",
            "${WEB_UPSTREAM}": upstream,
            "/etc/nginx/conf.d/trusted-proxies.inc": str(include),
            "listen 8080;": f"listen 127.0.0.1:{port};",
        }.items():
            site = site.replace(name, value)
        (tmp_path / "site.conf").write_text(site)
        temporary = " ".join(
            f"{kind}_temp_path {tmp_path / kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        (tmp_path / "nginx.conf").write_text(
            f"pid {tmp_path / 'nginx.pid'};\nerror_log {tmp_path / 'error.log'};\n"
            f"events {{}}\nhttp {{ access_log off; {temporary}\n"
            f"include {tmp_path / 'site.conf'}; }}\n"
        )
        command = [NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")]
        subprocess.run(command, check=True, capture_output=True, timeout=30)
        started.append((tmp_path / "nginx.pid").read_text().strip())

        def send(**headers: str) -> dict:
            url = f"http://127.0.0.1:{port}/api/v1/model/"
            return requests.get(url, headers=headers, timeout=10).json()

        return send

    yield start
    for pid in started:
        os.kill(int(pid), 15)


def test_without_trusted_proxies_everything_a_client_sends_is_ignored(nginx):
    send = nginx("")
    seen = send(**{"X-Forwarded-For": "203.0.113.8", "X-Forwarded-Proto": "https"})
    assert seen == {
        "X-Real-IP": "127.0.0.1",
        "X-Forwarded-For": "203.0.113.8, 127.0.0.1",  # the web takes the last entry
        "X-Forwarded-Proto": "http",
    }


def test_behind_trusted_proxies_the_client_is_the_right_most_untrusted_hop(nginx):
    send = nginx("127.0.0.1/32, 10.0.0.0/8")  # a load balancer, and one more hop
    seen = send(**{"X-Forwarded-For": "198.51.100.1, 203.0.113.9, 10.1.2.3"})
    assert seen["X-Real-IP"] == "203.0.113.9"
    assert seen["X-Forwarded-For"].split(", ")[-1] == "203.0.113.9"
    assert send(**{"X-Forwarded-Proto": "https"})["X-Forwarded-Proto"] == "https"
