#!/bin/sh
# Run by the nginx image's entrypoint (/docker-entrypoint.d/) before nginx starts:
# writes the proxies nginx believes X-Forwarded-For and X-Forwarded-Proto from,
# NGINX_TRUSTED_PROXIES (addresses or CIDR ranges, comma- or space-separated; empty:
# nobody, clients connect to nginx itself), for deploy/nginx.conf.template to include.
# nginx's set_real_ip_from takes one range per line, which envsubst cannot repeat.
# Usage: nginx-trusted-proxies.sh [OUTPUT] (default /etc/nginx/conf.d/trusted-proxies.inc)
set -euf  # -f: no file-name expansion of the ranges
output="${1:-/etc/nginx/conf.d/trusted-proxies.inc}"
ranges=$(printf '%s' "${NGINX_TRUSTED_PROXIES:-}" | tr ',' ' ')
for range in $ranges; do
    if ! printf '%s' "$range" | grep -Eq '^[0-9A-Fa-f.:]+(/[0-9]{1,3})?$'; then
        echo "NGINX_TRUSTED_PROXIES: '$range' is not an address or CIDR range" >&2
        exit 1
    fi
done
{
    echo "# Written from NGINX_TRUSTED_PROXIES at start by nginx-trusted-proxies.sh."
    for range in $ranges; do echo "set_real_ip_from $range;"; done
    # Whether the connection came from one of them (the address before real_ip).
    echo 'geo $realip_remote_addr $from_trusted_proxy {'
    echo '    default 0;'
    for range in $ranges; do echo "    $range 1;"; done
    echo '}'
} > "$output"
