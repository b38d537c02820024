"""gunicorn settings, from the environment (`--config python:classifier_site.gunicorn`).

One place for `make run`, the container image and the load tests; command-line
flags given after it (such as --bind) still win.
"""

from classifier_site.env import env_bool, env_int, env_str

bind = [env_str("WEB_BIND", "127.0.0.1:8000")]
# Threads: a single prediction spends most of its time waiting for an inference
# worker, so one process serves many at once; more processes add CPU parallelism.
worker_class = "gthread"
workers = env_int("WEB_PROCESSES", 2, minimum=1)
threads = env_int("WEB_THREADS", 8, minimum=1)
# Longer than the longest wait for an inference worker (PREDICTION_TIMEOUT_SECONDS).
timeout = env_int("WEB_TIMEOUT_SECONDS", 60, minimum=1)
keepalive = env_int("WEB_KEEPALIVE_SECONDS", 5, minimum=0)
accesslog = "-" if env_bool("WEB_ACCESS_LOG", True) else None
control_socket_disable = True  # several servers may share a host; nothing uses it
