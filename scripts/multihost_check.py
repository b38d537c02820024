"""Many hosts on one machine: two inference workers, each in a network namespace of
its own, share one batch job through Redis and PostgreSQL reached over veth links.

Run as root (CI does): `make multihost`. It starts a private redis-server and a
private PostgreSQL cluster (initdb + pg_ctl in a temporary folder) that listen on the
host ends of two veth pairs (and on loopback for this script), never touching the
shared servers. Each worker's namespace has only its own loopback and its veth end,
so Redis and PostgreSQL are reachable from it only over its link, which is checked.
It then submits one batch job through the REST API and checks that both workers
processed part of it and that the result is complete. Namespaces, links, servers
and files are removed on exit, also after a failure or Ctrl-C.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.django_env import set_up_django  # noqa: E402
from harness.helpers import wait_until  # noqa: E402
from harness.postgres import PrivatePostgres  # noqa: E402
from harness.redis_server import PrivateRedis  # noqa: E402
from harness.workers import Worker  # noqa: E402

IMAGES = 512
CHUNK_SIZE = 16  # 32 chunks, so that each worker gets its share
JOB_TIMEOUT_SECONDS = 180
# Link addresses: 10.231.0.0/16 /30 subnets, picked by process id so that two runs
# on one machine do not collide. Only this machine's own namespaces use them.
SUBNET_PREFIX = "10.231"


@dataclass
class Link:
    namespace: str
    host_device: str
    host_address: str
    namespace_address: str


def run(*command: str) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(command)}\n{done.stderr}")
    return done


def create_link(index: int, stack: ExitStack) -> Link:
    tag = f"{os.getpid() % 100000}{index}"
    subnet = (os.getpid() % 8000) * 2 + index  # /30 number within the /16
    third, fourth = divmod(subnet * 4, 256)
    link = Link(
        namespace=f"clf-worker{index}-{os.getpid()}",
        host_device=f"vclf{tag}",
        host_address=f"{SUBNET_PREFIX}.{third}.{fourth + 1}",
        namespace_address=f"{SUBNET_PREFIX}.{third}.{fourth + 2}",
    )
    run("ip", "netns", "add", link.namespace)
    stack.callback(subprocess.run, ["ip", "netns", "delete", link.namespace], check=False)
    inside = f"eth{index}"
    run("ip", "link", "add", link.host_device, "type", "veth", "peer", "name", f"p{tag}")
    stack.callback(subprocess.run, ["ip", "link", "delete", link.host_device],
                   check=False, capture_output=True)  # fmt: skip
    run("ip", "link", "set", f"p{tag}", "netns", link.namespace)
    run("ip", "addr", "add", f"{link.host_address}/30", "dev", link.host_device)
    run("ip", "link", "set", link.host_device, "up")
    in_namespace = ("ip", "netns", "exec", link.namespace)
    run(*in_namespace, "ip", "link", "set", f"p{tag}", "name", inside)
    run(*in_namespace, "ip", "addr", "add", f"{link.namespace_address}/30", "dev", inside)
    run(*in_namespace, "ip", "link", "set", inside, "up")
    run(*in_namespace, "ip", "link", "set", "lo", "up")
    return link


def start_worker(link: Link, index: int, environment: dict, scratch: Path) -> Worker:
    """An inference worker for the batch queue, inside the link's namespace."""
    return Worker(
        f"worker{index}", environment, scratch / f"worker{index}.log", queues="batch",
        prefetch=1, hostname=f"worker{index}@{link.namespace}",
        command_prefix=("ip", "netns", "exec", link.namespace), wait=False,
    )  # fmt: skip


def port_open(host: str, port: int, namespace: str | None = None) -> bool:
    probe = f"import socket; socket.create_connection(({host!r}, {port}), timeout=2).close()"
    command = [sys.executable, "-c", probe]
    if namespace:
        command = ["ip", "netns", "exec", namespace, *command]
    return subprocess.run(command, capture_output=True).returncode == 0


def archive_of_images(count: int) -> bytes:
    from ml_core.datasets import load_cifar
    from ml_core.preprocessing import encode_png

    archive = os.environ.get(
        "CIFAR_TEST_ARCHIVE", str(ROOT / "data" / "cifar-10-mini" / "cifar-10-python.tar.gz")
    )
    images = load_cifar(archive).test.images[:count]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        for position, pixels in enumerate(images):
            zipped.writestr(f"images/{position:04d}.png", encode_png(pixels))
    return buffer.getvalue()


def register_random_model(models_dir: Path) -> None:
    """A production version with random weights: this checks distribution, not accuracy."""
    from ml_core.artifacts import save_untrained_model
    from training.models import ModelVersion

    class_names = [f"class{index}" for index in range(10)]
    directory = save_untrained_model(
        models_dir / "multihost", class_names, dataset_fingerprint="multihost-check"
    )
    ModelVersion.objects.create(
        number=1, artifact_path=directory.name, status=ModelVersion.Status.PRODUCTION,
        class_names=class_names, dataset_fingerprint="multihost-check",
    )  # fmt: skip


def chunks_done(log: str) -> int:
    pattern = r"Task predictions\.tasks\.predict_batch_chunk\[[^\]]+\] succeeded"
    return len(re.findall(pattern, log))


def main() -> int:
    if os.geteuid() != 0:
        raise SystemExit("run as root: network namespaces need it (CI runs as root)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    with ExitStack() as stack:
        scratch = Path(tempfile.mkdtemp(prefix="multihost-"))
        (scratch / "static").mkdir()
        stack.callback(shutil.rmtree, scratch, ignore_errors=True)
        links = [create_link(index, stack) for index in (1, 2)]
        # Private servers on loopback (for this script) and the host ends of the links.
        addresses = ["127.0.0.1", *(link.host_address for link in links)]
        private_redis = PrivateRedis(scratch, addresses)
        stack.callback(private_redis.stop)
        postgres = PrivatePostgres(addresses, [link.namespace_address for link in links])
        stack.callback(postgres.destroy)
        postgres.create_database("classifier")
        redis_port, postgres_port = private_redis.port, postgres.port
        shared = {
            "MEDIA_ROOT": str(scratch / "media"),  # on many hosts: a shared volume
            "MODELS_DIR": str(scratch / "models"),
            "DJANGO_ALLOWED_HOSTS": "testserver",
            "BATCH_JOB_CHUNK_SIZE": str(CHUNK_SIZE),
            "INFERENCE_THREADS": "1",
            "PRODUCTION_RECHECK_SECONDS": "0",
            "STATIC_ROOT": str(scratch / "static"),
            "TF_CPP_MIN_LOG_LEVEL": "2",
        }
        set_up_django(
            **shared,
            REDIS_URL=private_redis.url,
            DATABASE_URL=postgres.url_for("classifier"),
        )
        from django.core.management import call_command
        from django.test import Client

        call_command("migrate", verbosity=0)
        register_random_model(Path(shared["MODELS_DIR"]))
        print(f"private Redis :{redis_port} and PostgreSQL :{postgres_port} listen on "
              f"127.0.0.1 and {', '.join(link.host_address for link in links)}")  # fmt: skip

        workers = []
        for index, link in enumerate(links, start=1):
            # Only its link leads out: the host's loopback servers are out of reach.
            assert port_open(link.host_address, redis_port, link.namespace)
            assert port_open(link.host_address, postgres_port, link.namespace)
            assert not port_open("127.0.0.1", redis_port, link.namespace)
            assert not port_open("127.0.0.1", postgres_port, link.namespace)
            environment = {
                **os.environ,
                "REDIS_URL": f"redis://{link.host_address}:{redis_port}/0",
                "DATABASE_URL": f"postgres://postgres@{link.host_address}:{postgres_port}/classifier",
            }  # fmt: skip
            worker = start_worker(link, index, environment, scratch)
            stack.callback(worker.stop)
            workers.append((link, worker))
            print(f"worker{index} in namespace {link.namespace} ({link.namespace_address}) "
                  f"reaches Redis and PostgreSQL only at {link.host_address}")  # fmt: skip
        for _, worker in workers:
            worker.wait_until_ready()

        client = Client()
        upload = io.BytesIO(archive_of_images(IMAGES))
        upload.name = "batch.zip"
        response = client.post("/api/v1/batch-jobs/", {"archive": upload})
        assert response.status_code == 202, response.content
        job_id = response.json()["id"]
        # An anonymous job: seen only with the key its submit answered with.
        client.defaults["HTTP_X_JOB_KEY"] = response.json()["access_key"]
        print(f"submitted batch job {job_id}: {IMAGES} images in chunks of {CHUNK_SIZE}")

        def finished() -> bool:
            status = client.get(f"/api/v1/batch-jobs/{job_id}/").json()["status"]
            return status in {"succeeded", "failed", "cancelled"}

        try:
            wait_until(finished, JOB_TIMEOUT_SECONDS, 0.2, f"batch job {job_id}")
        except TimeoutError:
            for link, worker in workers:
                print(f"--- {link.namespace} log (end) ---\n{worker.output()[-3000:]}")
            raise
        job = client.get(f"/api/v1/batch-jobs/{job_id}/").json()
        results = client.get(f"/api/v1/batch-jobs/{job_id}/results/").json()["results"]
        time.sleep(0.5)  # the last "succeeded" lines reach the logs
        shares = {link.namespace: chunks_done(worker.output()) for link, worker in workers}

        print(f"\n{'worker namespace':<32}{'chunks':>8}")
        for namespace, count in shares.items():
            print(f"{namespace:<32}{count:>8}")
        positions = sorted(row["position"] for row in results)
        complete = positions == list(range(IMAGES)) and all(row["label"] for row in results)
        print(f"job {job_id}: {job['status']}, {job['processed']}/{job['total']} processed, "
              f"{len(results)} results, complete: {complete}; "
              f"{time.monotonic() - started:.0f} s in all")  # fmt: skip
        problems = []
        if job["status"] != "succeeded" or not complete:
            problems.append("the job did not succeed with one result per image")
        if not all(shares.values()):
            problems.append("a worker processed no part of the job")
        if sum(shares.values()) < IMAGES // CHUNK_SIZE:
            problems.append("fewer chunks succeeded than the job has")
        for problem in problems:
            print(f"FAILED: {problem}")
        if problems:
            for link, worker in workers:
                print(f"--- {link.namespace} log (end) ---\n{worker.output()[-3000:]}")
        return 1 if problems else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except TimeoutError as exc:
        sys.exit(str(exc))
