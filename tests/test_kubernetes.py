"""No cluster runs here: deploy/kubernetes.yaml is checked for the structure the
deployment guide (docs/deployment.md) relies on."""

import ipaddress
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
APP_WORKLOADS = {"migrate", "web", "worker", "batch-worker", "training", "beat"}


@pytest.fixture(scope="module")
def manifests() -> dict[str, dict]:
    documents = yaml.safe_load_all((ROOT / "deploy" / "kubernetes.yaml").read_text())
    return {f"{doc['kind']}/{doc['metadata']['name']}": doc for doc in documents}


def workload(manifests, name: str) -> dict:
    for kind in ("Deployment", "StatefulSet", "Job"):
        if f"{kind}/{name}" in manifests:
            return manifests[f"{kind}/{name}"]
    raise AssertionError(f"no workload {name}")


def container(manifests, name: str) -> dict:
    return workload(manifests, name)["spec"]["template"]["spec"]["containers"][0]


def test_every_part_of_the_service_is_there(manifests):
    for name in ("db", "redis", "nginx", *APP_WORKLOADS):
        workload(manifests, name)
    assert {"Service/db", "Service/redis", "Service/web", "Service/nginx"} <= set(manifests)
    assert manifests["Service/nginx"]["spec"]["type"] == "LoadBalancer"


def test_app_containers_share_the_image_configuration_and_secrets(manifests):
    for name in APP_WORKLOADS:
        app = container(manifests, name)
        assert app["image"] == "CLASSIFIER_IMAGE", name
        sources = {next(iter(source.values()))["name"] for source in app["envFrom"]}
        assert sources == {"classifier-config", "classifier-secrets"}, name


def test_media_and_models_are_shared_by_every_pod_on_any_node(manifests):
    for claim in ("media", "models"):
        assert manifests[f"PersistentVolumeClaim/{claim}"]["spec"]["accessModes"] == [
            "ReadWriteMany"
        ]
    config = manifests["ConfigMap/classifier-config"]["data"]
    for name in ("web", "worker", "batch-worker", "training"):
        mounts = {m["name"]: m["mountPath"] for m in container(manifests, name)["volumeMounts"]}
        assert mounts == {"media": config["MEDIA_ROOT"], "models": config["MODELS_DIR"]}, name
    nginx_mounts = container(manifests, "nginx")["volumeMounts"]
    assert nginx_mounts == [{"name": "media", "mountPath": "/srv/media", "readOnly": True}]


def test_workers_scale_and_beat_never_runs_twice(manifests):
    worker = container(manifests, "worker")["args"]
    assert worker[worker.index("--queues") + 1] == "inference"
    assert worker[worker.index("--hostname") + 1] == "inference@%h"  # unique per pod
    batch = container(manifests, "batch-worker")["args"]
    assert batch[batch.index("--queues") + 1] == "batch"
    assert batch[batch.index("--prefetch-multiplier") + 1] == "1"  # a job spreads over pods
    assert batch[batch.index("--hostname") + 1] == "batch@%h"
    beat = workload(manifests, "beat")["spec"]
    assert beat["replicas"] == 1 and beat["strategy"] == {"type": "Recreate"}
    for name in ("web", "worker", "batch-worker", "training", "beat"):
        probe = container(manifests, name)["livenessProbe"]["exec"]["command"]
        assert probe == ["python", "-m", "classifier_site.container_probe"], name


def cpu_cores(quantity: str) -> float:
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def test_job_pods_yield_the_cpu_to_interactive_work_on_a_shared_node(manifests):
    """A CPU request is the pod's CPU weight; no limit, so jobs still use idle cores."""

    def resources(name: str) -> dict:
        return container(manifests, name)["resources"]

    interactive = min(cpu_cores(resources(name)["requests"]["cpu"]) for name in ("web", "worker"))
    for name in ("batch-worker", "training"):
        assert cpu_cores(resources(name)["requests"]["cpu"]) * 4 <= interactive, name
        assert "cpu" not in resources(name).get("limits", {}), name


def test_every_configured_variable_is_one_the_code_reads(manifests):
    readers = (ROOT / "classifier_site" / "settings.py").read_text()
    readers += (ROOT / "gunicorn.conf.py").read_text()
    for variable in manifests["ConfigMap/classifier-config"]["data"]:
        assert re.search(rf'env_\w+\(\s*"{variable}"', readers), variable


def test_the_guide_creates_the_secrets_the_manifests_use(manifests):
    guide = (ROOT / "docs" / "deployment.md").read_text()
    for key in ("DJANGO_SECRET_KEY", "POSTGRES_PASSWORD", "DATABASE_URL"):
        assert f"--from-literal={key}=" in guide
    postgres_password = container(manifests, "db")["env"][2]["valueFrom"]["secretKeyRef"]
    assert postgres_password == {"name": "classifier-secrets", "key": "POSTGRES_PASSWORD"}
    upstream = {e["name"]: e["value"] for e in container(manifests, "nginx")["env"]}
    assert upstream["WEB_UPSTREAM"] == "web.classifier.svc.cluster.local:8000"
    assert "kubectl create namespace classifier" in guide


def test_nginx_sends_media_only_after_django_checked_the_request(manifests):
    """The ConfigMap points Django at the internal location of the nginx image's
    configuration, which serves the media volume that the nginx pods mount."""
    config = manifests["ConfigMap/classifier-config"]["data"]
    location = config["MEDIA_ACCEL_REDIRECT"]
    template = (ROOT / "deploy" / "nginx.conf.template").read_text()
    block = template.split(f"location {location} {{\n", 1)[1].split("}", 1)[0]
    assert "internal;" in block.split()
    alias = block.split("alias ", 1)[1].split(";", 1)[0]
    mounts = container(manifests, "nginx")["volumeMounts"]
    assert alias.rstrip("/") == config["MEDIA_ROOT"] == mounts[0]["mountPath"]
    assert "location /media/" not in template
    guide = (ROOT / "docs" / "deployment.md").read_text()
    assert "MEDIA_ACCEL_REDIRECT" in guide and "/protected-media/" in guide


def test_nginx_sees_the_real_peer_and_trusts_only_the_load_balancer(manifests):
    """No SNAT to a node's address (externalTrafficPolicy: Local): the peer nginx sees
    is the load balancer, the only proxy whose X-Forwarded-For it believes, and the
    web takes the address nginx appends (one proxy)."""
    service = manifests["Service/nginx"]["spec"]
    assert service["externalTrafficPolicy"] == "Local"
    nginx = {e["name"]: e["value"] for e in container(manifests, "nginx")["env"]}
    ranges = nginx["NGINX_TRUSTED_PROXIES"].replace(",", " ").split()
    assert ranges and all(ipaddress.ip_network(r).is_private for r in ranges)
    config = manifests["ConfigMap/classifier-config"]["data"]
    assert config["API_TRUSTED_PROXY_COUNT"] == "1"
    assert "API_CLIENT_ADDRESS_HEADER" not in config
    guide = (ROOT / "docs" / "deployment.md").read_text()
    assert "NGINX_TRUSTED_PROXIES" in guide and "externalTrafficPolicy: Local" in guide
