"""Private stacks for the tests, the benchmarks, the load test and the multihost check.

Every service started here runs on a free port of its own, from a temporary folder,
in a process group of its own that dies with its parent, so a run never touches the
shared Redis and PostgreSQL, nor another run:

- helpers: ROOT, free_port, wait_until
- processes: spawn and terminate process groups
- measure: CPU seconds and resident memory of process trees, peak RSS (psutil)
- redis_server: PrivateRedis (no persistence), redis_answers, redis_server_binary
- postgres: PrivatePostgres (initdb + pg_ctl in a temporary folder)
- web: gunicorn with the project's gunicorn.conf.py
- workers: Celery workers (prefork) and beat
- django_env: Django configured in this process, on a private SQLite database
- deployment: the whole service on a private Redis and PostgreSQL
- hostile_inputs: generated hostile uploads (zip bombs, odd images, raw multipart)

No module imports product code when it is imported (ml_core and Django only inside
the functions that need them): the product may change under the harness.
"""
