"""Whether the web server may listen where it is told to: development settings
(debug on, no allowed hosts) only on a loopback address.

Debug pages show the settings to whoever triggers an error (a bad Host header is
enough), so debug mode must never face the network. Checked where the address is
decided: gunicorn.conf.py (every gunicorn start, whatever --bind says) and
scripts/run_service.py (`make run`, before anything starts).

Only the standard library and gunicorn: gunicorn.conf.py loads this file by its path,
since importing the classifier_site package in the gunicorn master would start
Celery there (see gunicorn.conf.py). So it reads the environment itself, as
settings.py would: DJANGO_DEBUG counts as on unless it is clearly false.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Mapping

from gunicorn.util import parse_address

_FALSE = {"0", "false", "no", "off", ""}


def is_loopback(bind: str) -> bool:
    """True when only this machine can connect to `bind` (a gunicorn --bind value).
    Unix sockets and inherited descriptors count as reachable: a proxy in front may
    forward the network to them."""
    address = parse_address(bind)
    if not isinstance(address, tuple):
        return False
    host = address[0]
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    if not host:
        return False  # ":8000" listens on every interface
    try:
        resolved = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    return bool(resolved) and all(ipaddress.ip_address(ip).is_loopback for ip in resolved)


def refusal(binds: Iterable[str], environment: Mapping[str, str]) -> str | None:
    """Why the web server must not start on `binds` with `environment`, or None."""
    public = [bind for bind in binds if not is_loopback(bind)]
    if not public:
        return None
    missing = []
    if environment.get("DJANGO_DEBUG", "").strip().lower() not in _FALSE:
        missing.append("DJANGO_DEBUG=false")
    if not environment.get("DJANGO_ALLOWED_HOSTS", "").strip():
        missing.append("DJANGO_ALLOWED_HOSTS=<the host names clients use, comma-separated>")
    if not missing:
        return None
    return (
        f"Refusing to listen on {', '.join(public)}: other machines can reach it, and "
        "these are development settings (with debug on, an error page shows the "
        f"settings to anyone). Set {' and '.join(missing)}; or listen on 127.0.0.1. "
        "With make run: make run HOST=0.0.0.0 DJANGO_DEBUG=false "
        "DJANGO_ALLOWED_HOSTS=classifier.example.com"
    )
