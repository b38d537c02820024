"""Django settings, read from environment variables (docs/operations.md, "Configuration").

Invalid values raise ImproperlyConfigured at start-up, naming the variable.
"""

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from classifier_site.env import (
    env_bool,
    env_float,
    env_int,
    env_list,
    env_path,
    env_rate,
    env_str,
)
from classifier_site.secret_key import shared_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent

# Production mode refuses to start without a real secret key or with debug on. Debug
# mode is for loopback only: the web server refuses to listen elsewhere with it
# (gunicorn.conf.py and scripts/run_service.py, through classifier_site/exposure.py).
PRODUCTION = env_bool("DJANGO_PRODUCTION", False)
DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "")
if PRODUCTION and (not SECRET_KEY or DEBUG):
    raise ImproperlyConfigured(
        "DJANGO_PRODUCTION=true needs DJANGO_SECRET_KEY set and DJANGO_DEBUG false"
    )
# Without DJANGO_SECRET_KEY: a key generated on first start and kept in this file
# (mode 0600), which every process of the deployment reads. Production mode needs
# DJANGO_SECRET_KEY instead: its processes run on several hosts, each with its own disk.
SECRET_KEY_FILE = env_path("DJANGO_SECRET_KEY_FILE", BASE_DIR / "data" / "secret_key")
SECRET_KEY = SECRET_KEY or shared_secret_key(SECRET_KEY_FILE)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
# Origins trusted for CSRF on HTTPS, e.g. https://classifier.example.com.
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

# --- HTTPS and security headers (production mode turns them on; docs/deployment.md) ---
# Cookies only over HTTPS, and never readable by page scripts (the CSRF cookie must
# stay readable: the dashboard's scripts send it back as the X-CSRFToken header).
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", PRODUCTION)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
# Behind a TLS-terminating proxy, Django sees plain HTTP: the proxy's
# X-Forwarded-Proto header says whether the client used HTTPS. Only enable this
# when the proxy always sets (and overwrites) that header.
if env_bool("DJANGO_BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# A proxy that redirects to HTTPS itself may set this false (check --deploy then warns).
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", PRODUCTION)
# Health checks come from load balancers over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^api/v1/health/"]
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31_536_000 if PRODUCTION else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", PRODUCTION)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", PRODUCTION)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "corsheaders",
    "accounts",
    "jobs",
    "training",
    "predictions",
    "dashboard",
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before anything reads the body: over API_MAX_REQUEST_BYTES is a 413 at once.
    "classifier_site.uploads.RequestBodyLimitMiddleware",
    # A query parameter given twice, or empty, under /api/ is a 400 naming it.
    "classifier_site.api.RefuseOddQueryParameters",
    # Serves the admin's static files from gunicorn with far-future caching,
    # so no separate file server is needed on a single host.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: turns a refused sign-in into the 429 answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "classifier_site.urls"
WSGI_APPLICATION = "classifier_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# SQLite is the embedded default, set up for several writer processes (web and
# workers): WAL lets readers run beside a writer, IMMEDIATE transactions take the
# write lock up front (no upgrade deadlocks), and writers wait instead of failing.
SQLITE_PATH = env_path("SQLITE_PATH", BASE_DIR / "db.sqlite3")
SQLITE_BUSY_TIMEOUT_SECONDS = env_int("SQLITE_BUSY_TIMEOUT_SECONDS", 30, minimum=1)
DATABASE_URL = env_str("DATABASE_URL", "")
# Connections are kept between requests and tasks this long (seconds; 0 = one per
# request): opening one costs more than most queries of a request.
DATABASE_CONN_MAX_AGE = env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0)
if DATABASE_URL:
    # Health checks: a connection that broke (database restarted) is replaced before
    # a request uses it, instead of failing that request.
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL, conn_max_age=DATABASE_CONN_MAX_AGE, conn_health_checks=True
        )
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": SQLITE_PATH,  # type: ignore[typeddict-item]  # Django takes a Path; the stubs a str
            "CONN_MAX_AGE": DATABASE_CONN_MAX_AGE,
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": SQLITE_BUSY_TIMEOUT_SECONDS,
            },
            # A file, not memory, so that Celery worker processes started by the
            # tests share the test database.
            "TEST": {"NAME": env_path("SQLITE_TEST_PATH", BASE_DIR / "test-db.sqlite3")},
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env_path("STATIC_ROOT", BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_URL = "media/"
MEDIA_ROOT = env_path("MEDIA_ROOT", BASE_DIR / "media")
# Stored images are private: every URL to one is signed and expires after this long
# (classifier_site/media.py), and Django checks the signature of every request.
MEDIA_URL_MAX_AGE_SECONDS = env_int("MEDIA_URL_MAX_AGE_SECONDS", 3600, minimum=60)
# Who sends the file once Django has checked a request: empty, Django streams it
# itself (one host, `make run`); else the internal location of the web server in
# front (nginx: `location /protected-media/ { internal; alias MEDIA_ROOT/; }`), to
# which Django answers with X-Accel-Redirect and an empty body.
MEDIA_ACCEL_REDIRECT = env_str("MEDIA_ACCEL_REDIRECT", "")
if MEDIA_ACCEL_REDIRECT and not (
    MEDIA_ACCEL_REDIRECT.startswith("/") and MEDIA_ACCEL_REDIRECT.endswith("/")
):
    raise ImproperlyConfigured(
        f"MEDIA_ACCEL_REDIRECT={MEDIA_ACCEL_REDIRECT!r} must start and end with '/' "
        "(e.g. /protected-media/), or be empty"
    )
if "SERVE_MEDIA" in os.environ:
    raise ImproperlyConfigured(
        "SERVE_MEDIA is gone: Django now checks every media request. Remove it; behind "
        "nginx set MEDIA_ACCEL_REDIRECT=/protected-media/ (see docs/deployment.md)"
    )

# The dashboard's sign-in pages (django.contrib.auth views).
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:home"
LOGOUT_REDIRECT_URL = "dashboard:home"

# Trained model artefacts: one immutable directory per model version.
MODELS_DIR = env_path("MODELS_DIR", BASE_DIR / "models")
# Where `import_cifar` and `make run` look for the dataset when given no path.
CIFAR_ARCHIVE = env_path("CIFAR_ARCHIVE", BASE_DIR / "data" / "cifar-10-python.tar.gz")

# --- Celery: broker and result backend on Redis -----------------------------------
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_RESULT_EXPIRES = 3600
# Jobs report through their database rows; only a single prediction's caller waits
# on the result backend (predict_images opts back in). Enqueueing a task whose result
# is kept also subscribes to the backend, which fails with a RuntimeError rather than
# the broker's OperationalError when Redis is down.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_DEFAULT_QUEUE = "inference"
# Long work goes to the training worker, keeping inference workers free to answer.
CELERY_TASK_ROUTES = {
    f"training.tasks.{name}": {"queue": "training"}
    for name in (
        "run_training_job",
        "run_evaluation_job",
        "generate_dataset_plots",
        "generate_training_plot",
        "generate_evaluation_plots",
    )
}
# Batch-job chunks have a queue of their own. A worker's prefetch limit covers all its
# queues: micro-batching single predictions needs it at the batch size, but a worker
# that also prefetched that many chunks would hoard a whole job while workers on other
# hosts idle. Every deployment runs `batch` workers (prefetch 1) apart from the
# `inference` ones, so that no prediction waits for a chunk (docs/jobs-and-workers.md).
CELERY_TASK_ROUTES["predictions.tasks.predict_batch_chunk"] = {"queue": "batch"}
# A task is acknowledged only once done, and re-queued if its worker process dies:
# every task is idempotent, so running one twice never duplicates results.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # inference workers raise it to the batch size
# Not True: cancelling on a broker connection loss makes Celery 5.6 write the
# cancellation to the result backend (the same Redis, gone), which kills the worker
# (tests/faults/test_redis_restarted.py; celery/celery#7705). Running tasks finish;
# their acknowledgement is lost with the connection and the message is delivered
# again, which every task here tolerates.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# Celery's Django fixup closes the database connection around every task unless
# told to reuse it: reopening it for every micro-batch of predictions costs more than
# the batch's insert. Reused for this many tasks (within CONN_MAX_AGE).
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 100, minimum=0)
# Processes started together (make run, compose) may come up before Redis answers.
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Longer than the longest job, or Redis would hand a running job to a second worker.
LONGEST_JOB_SECONDS = env_int("LONGEST_JOB_SECONDS", 12 * 3600, minimum=60)
# A key prefix lets several deployments (or test runs) share one Redis safely.
REDIS_KEY_PREFIX = env_str("REDIS_KEY_PREFIX", "")
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": LONGEST_JOB_SECONDS + 3600,
    **({"global_keyprefix": REDIS_KEY_PREFIX} if REDIS_KEY_PREFIX else {}),
}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = (
    {"global_keyprefix": REDIS_KEY_PREFIX} if REDIS_KEY_PREFIX else {}
)
# How often celery beat runs the sweep that recovers jobs whose worker was lost.
JOB_RECOVERY_INTERVAL_SECONDS = env_float("JOB_RECOVERY_INTERVAL_SECONDS", 30.0, minimum=0.5)
CELERY_BEAT_SCHEDULE = {
    "recover-stale-jobs": {
        "task": "jobs.tasks.recover_stale_jobs",
        "schedule": JOB_RECOVERY_INTERVAL_SECONDS,
    },
}

# --- Jobs and serving ---------------------------------------------------------------
# A running job whose heartbeat is older than this is taken to have lost its worker.
JOB_STALE_AFTER_SECONDS = env_int("JOB_STALE_AFTER_SECONDS", 120, minimum=2)
JOB_MAX_ATTEMPTS = env_int("JOB_MAX_ATTEMPTS", 3, minimum=1)
# Progress rows are written at most this often per job (plus at every epoch end).
JOB_PROGRESS_INTERVAL_SECONDS = env_float("JOB_PROGRESS_INTERVAL_SECONDS", 1.0, minimum=0.0)
BATCH_JOB_CHUNK_SIZE = env_int("BATCH_JOB_CHUNK_SIZE", 128, minimum=1)
# Fair share (jobs.scheduling): at most this many chunks are in Redis or running at
# once, overall, per user and per job; a freed slot goes round-robin by user, then
# by job. Overall: about twice the worker processes that take `batch` tasks (a
# dispatched chunk waits behind the others in flight, so more adds latency).
BATCH_CHUNKS_IN_FLIGHT = env_int("BATCH_CHUNKS_IN_FLIGHT", 4, minimum=1)
BATCH_CHUNKS_IN_FLIGHT_PER_USER = env_int("BATCH_CHUNKS_IN_FLIGHT_PER_USER", 3, minimum=1)
BATCH_CHUNKS_IN_FLIGHT_PER_JOB = env_int("BATCH_CHUNKS_IN_FLIGHT_PER_JOB", 2, minimum=1)
# A waiting job gains one priority level per this many seconds unserved, so a low
# job is never starved by a stream of higher ones.
JOB_PRIORITY_AGING_SECONDS = env_float("JOB_PRIORITY_AGING_SECONDS", 60.0, minimum=1.0)
# A chunk dispatched this long ago and still unclaimed is taken for lost (Redis
# restarted empty) and dispatched again; a duplicate message finds it claimed.
BATCH_CHUNK_LOST_AFTER_SECONDS = env_float("BATCH_CHUNK_LOST_AFTER_SECONDS", 300.0, minimum=1.0)
# A queued training or evaluation job whose task was sent this long ago is sent
# again (Redis may have lost it); the job's claim makes the copy a no-op.
JOB_RESEND_AFTER_SECONDS = env_float("JOB_RESEND_AFTER_SECONDS", 300.0, minimum=1.0)
# A batch job built over several requests (a draft, appended to) holds at most this many
# images; a draft nobody appended to or started for this long is deleted by the sweep.
BATCH_JOB_MAX_IMAGES = env_int("BATCH_JOB_MAX_IMAGES", 100_000, minimum=1)
BATCH_DRAFT_EXPIRE_HOURS = env_float("BATCH_DRAFT_EXPIRE_HOURS", 24.0, minimum=0.001)
# Dynamic micro-batching of single predictions (1 = off).
INFERENCE_MAX_BATCH_SIZE = env_int("INFERENCE_MAX_BATCH_SIZE", 32, minimum=1)
INFERENCE_MAX_DELAY_SECONDS = env_float("INFERENCE_MAX_DELAY_SECONDS", 0.01, minimum=0.001)
# TensorFlow threads per inference worker process (0 = one per core).
INFERENCE_THREADS = env_int("INFERENCE_THREADS", 0, minimum=0)
# CPU niceness of a worker (0-19; 0 leaves it alone). The workers that run jobs
# (batch chunks, training, evaluation) run at 19, so the web and the worker of single
# predictions take the cores first and jobs take what is left
# (classifier_site/cpu_priority.py; bench/job_sharing.py measured it).
WORKER_NICENESS = env_int("WORKER_NICENESS", 0, minimum=0, maximum=19)
PREDICTION_TIMEOUT_SECONDS = env_float("PREDICTION_TIMEOUT_SECONDS", 30.0, minimum=0.1)
# How often a worker checks which version is in production.
PRODUCTION_RECHECK_SECONDS = env_float("PRODUCTION_RECHECK_SECONDS", 2.0, minimum=0.0)
# How long the readiness check reuses its census of workers (0: a census per request).
READINESS_WORKERS_CACHE_SECONDS = env_float("READINESS_WORKERS_CACHE_SECONDS", 5.0, minimum=0.0)

# --- Quotas and backpressure (jobs/quotas.py, classifier_site/backpressure.py) -----
# Per caller (a signed-in user; an anonymous caller by client address, as the rate
# limits count them): images waiting in their unfinished batch jobs, and jobs of any
# kind queued or running at once. Over one, a submit is a 429 naming the quota. 0:
# no limit. Staff have their own limits (default 0: exempt).
QUOTA_QUEUED_IMAGES = env_int("QUOTA_QUEUED_IMAGES", 200_000, minimum=0)
QUOTA_ACTIVE_JOBS = env_int("QUOTA_ACTIVE_JOBS", 10, minimum=0)
QUOTA_ANONYMOUS_QUEUED_IMAGES = env_int("QUOTA_ANONYMOUS_QUEUED_IMAGES", 5_000, minimum=0)
QUOTA_ANONYMOUS_ACTIVE_JOBS = env_int("QUOTA_ANONYMOUS_ACTIVE_JOBS", 3, minimum=0)
QUOTA_STAFF_QUEUED_IMAGES = env_int("QUOTA_STAFF_QUEUED_IMAGES", 0, minimum=0)
QUOTA_STAFF_ACTIVE_JOBS = env_int("QUOTA_STAFF_ACTIVE_JOBS", 0, minimum=0)
QUOTA_RETRY_AFTER_SECONDS = env_int("QUOTA_RETRY_AFTER_SECONDS", 60, minimum=1)
# Whole service, for everyone (staff too): images in unfinished batch jobs (counted in
# the database, so work not yet dispatched counts), messages waiting in the Celery
# queues on Redis (LLEN), and free space under MEDIA_ROOT for uploads. Over one, a
# submit (an upload, for the disk) is a 503 with Retry-After. 0: no limit.
QUEUE_MAX_IMAGES = env_int("QUEUE_MAX_IMAGES", 1_000_000, minimum=0)
QUEUE_MAX_MESSAGES = env_int("QUEUE_MAX_MESSAGES", 100_000, minimum=0)
MEDIA_MIN_FREE_BYTES = env_int("MEDIA_MIN_FREE_BYTES", 1024**3, minimum=0)
OVERLOAD_RETRY_AFTER_SECONDS = env_int("OVERLOAD_RETRY_AFTER_SECONDS", 120, minimum=1)

# --- Retention (predictions/retention.py; `manage.py purge`) -----------------------
# Days after which stored data is deleted, rows and files together (0: kept forever).
# Batch inputs: a finished batch job's pixels (3 KB an image), and its items that
# never got a prediction (cancelled, failed) with their files. Batch jobs: a
# finished batch job whole (items, predictions, files, the job). Predictions: single
# predictions (API, dashboard, command) with their uploads. Training images, model
# versions and the files they use are never deleted; a file several rows name stays
# until the last goes.
RETAIN_BATCH_INPUTS_DAYS = env_int("RETAIN_BATCH_INPUTS_DAYS", 7, minimum=0)
RETAIN_BATCH_JOBS_DAYS = env_int("RETAIN_BATCH_JOBS_DAYS", 0, minimum=0)
RETAIN_PREDICTIONS_DAYS = env_int("RETAIN_PREDICTIONS_DAYS", 0, minimum=0)
# Files under media/uploads/ that no row names, older than this, are deleted (a crash
# between writing a file and committing its row leaves one). No purge deletes a
# file written or reused within the last hour: an upload may be about to name it.
RETAIN_ORPHAN_GRACE_HOURS = env_int("RETAIN_ORPHAN_GRACE_HOURS", 24, minimum=1)
# Rows deleted per transaction (memory and lock time stay bounded).
RETENTION_BATCH_SIZE = env_int("RETENTION_BATCH_SIZE", 1000, minimum=1)
# How often celery beat runs the purge (it also measures the disk use the overview
# shows).
RETENTION_INTERVAL_SECONDS = env_float("RETENTION_INTERVAL_SECONDS", 3600.0, minimum=1.0)
CELERY_BEAT_SCHEDULE["purge-expired-data"] = {
    "task": "predictions.tasks.purge_expired",
    "schedule": RETENTION_INTERVAL_SECONDS,
}
# Housekeeping goes to the batch queue, never in front of single predictions.
CELERY_TASK_ROUTES["predictions.tasks.purge_expired"] = {"queue": "batch"}

# --- REST API ---------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["classifier_site.api.ReadOpenWriteWithPermission"],
    "DEFAULT_SCHEMA_CLASS": "classifier_site.schema.ContractAutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "classifier_site.api.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["classifier_site.api.RateLimit"],
}
# Rate limits (django-ratelimit, counted in the shared Redis cache, so they hold
# across web processes and hosts): per user for tokens and sessions, per IP for
# anonymous callers. Health checks and job-status polling are never limited.
API_RATE_ANONYMOUS = env_rate("API_RATE_ANONYMOUS", "120/m")
API_RATE_USER = env_rate("API_RATE_USER", "1200/m")
API_RATE_READ = env_rate("API_RATE_READ", "2400/m")
# Behind reverse proxies every request comes from the nearest proxy. This many proxies,
# each appending the address it received the request from to X-Forwarded-For, stand
# between clients and the web server: the client's address is that many entries from
# the right, and entries further left, which clients may write, are ignored
# (classifier_site.api.client_address). 0: clients connect to the web server itself.
# nginx (deploy/nginx.conf.template) counts as 1, load balancers in front of it
# included: it resolves their hops itself, trusting only NGINX_TRUSTED_PROXIES.
# Only set it when clients cannot reach the web server except through the proxies.
API_TRUSTED_PROXY_COUNT = env_int("API_TRUSTED_PROXY_COUNT", 0, minimum=0)
if env_str("API_CLIENT_ADDRESS_HEADER", ""):
    raise ImproperlyConfigured(
        "API_CLIENT_ADDRESS_HEADER is no longer read: a client behind the proxy could "
        "write it. Remove it and set API_TRUSTED_PROXY_COUNT to the number of proxies "
        "appending to X-Forwarded-For in front of the web server (1 behind the bundled nginx)"
    )

# --- Sign-in throttling (django-axes) ----------------------------------------------
# After LOGIN_FAILURE_LIMIT failed sign-ins for one username from one client address
# (the address the rate limits use), further attempts there are refused with a 429
# until LOGIN_COOLOFF_SECONDS have passed since the last one; covers the dashboard's
# /accounts/login/ and the admin's. Counted in the database, shared by every web
# process and host: it outlives a Redis restart (a Redis-backed counter would reset,
# or fail sign-ins while Redis is down), and each attempt is one row the admin lists.
# API tokens never pass through authenticate(), so token calls are not affected.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
LOGIN_COOLOFF_SECONDS = env_int("LOGIN_COOLOFF_SECONDS", 900, minimum=1)
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(seconds=LOGIN_COOLOFF_SECONDS)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_CLIENT_IP_CALLABLE = "classifier_site.api.client_address"
AXES_LOCKOUT_CALLABLE = "classifier_site.logins.locked_out"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False  # no banner at every start of every process
AUTHENTICATION_BACKENDS = [
    "classifier_site.logins.LockoutBackend",  # first: refuses locked-out attempts
    "django.contrib.auth.backends.ModelBackend",
]

CACHES = {
    "default": {
        "BACKEND": "classifier_site.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": REDIS_KEY_PREFIX,
    }
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Image classifier API",
    "DESCRIPTION": "Predict images, run batch and training jobs, manage model versions.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Operation ids and tags without the /api/v1 prefix: `batch_jobs_create`, tag
    # `batch-jobs` (the names of a generated client's functions and modules).
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Three models have a `status` field with different choices: name each enum.
    "ENUM_NAME_OVERRIDES": {
        "JobStatusEnum": "jobs.models.Job.Status",
        "ModelVersionStatusEnum": "training.models.ModelVersion.Status",
        "TrainingImageStatusEnum": "training.models.TrainingImage.Status",
    },
    # Request bodies are closed (additionalProperties: false): the API refuses any
    # field an operation does not take (classifier_site.api.StrictSerializer).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "classifier_site.api.close_request_bodies",
    ],
}
# Reading (history, versions, jobs) and predicting may be open to anonymous users;
# uploading training data, retraining, promoting and cancelling never are.
API_ANONYMOUS_READ = env_bool("API_ANONYMOUS_READ", True)
API_ANONYMOUS_PREDICT = env_bool("API_ANONYMOUS_PREDICT", True)
API_MAX_UPLOAD_BYTES = env_int("API_MAX_UPLOAD_BYTES", 10 * 1024 * 1024, minimum=1024)
API_MAX_FILES = env_int("API_MAX_FILES", 1000, minimum=1)
# A batch of at most this many images is answered in the request itself.
API_SYNC_BATCH_LIMIT = env_int("API_SYNC_BATCH_LIMIT", 16, minimum=0)
DATA_UPLOAD_MAX_NUMBER_FILES = API_MAX_FILES
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_UPLOAD_BYTES
# Budgets of one request as a whole (classifier_site/uploads.py), so that no request
# costs memory or CPU out of proportion. Bytes: checked from Content-Length before
# the body is read (413). The default admits the largest request the per-file
# limits promise, predict/many with API_SYNC_BATCH_LIMIT files of
# API_MAX_UPLOAD_BYTES (16 x 10 MB), plus 1 MB of multipart framing; a batch job of
# 1000 files fits when they average 160 KB (larger sets: several jobs, or a zip).
API_MAX_REQUEST_BYTES = env_int(
    "API_MAX_REQUEST_BYTES",
    max(API_SYNC_BATCH_LIMIT, 1) * API_MAX_UPLOAD_BYTES + 1024 * 1024,
    minimum=API_MAX_UPLOAD_BYTES,
)
# Decoded pixels: width x height summed over the request's images (zip members
# included), read from their headers before any is decoded (413). Decoding costs
# CPU in proportion (a 64-megapixel PNG takes about 0.5 s of a core to decode and
# about 1 s in all with its stored copy). 512 MP admits one image at the 64 MP limit
# eight times over, predict/many of 16 photos of 32 MP, a batch of 1000 images of
# 0.5 MP; it refuses 16 images at the 64 MP limit (1024 MP, the attack it stops).
API_MAX_REQUEST_PIXELS = env_int("API_MAX_REQUEST_PIXELS", 512_000_000, minimum=1)
# Zips (ml_core/archives.py) are read one member at a time, never trusting declared
# sizes. Every member is a file and has the per-file limit (API_MAX_UPLOAD_BYTES);
# all members together at most this many bytes uncompressed (images compress
# little, so an honest 10 MB zip inflates to a few tens of MB).
API_MAX_ARCHIVE_BYTES = env_int("API_MAX_ARCHIVE_BYTES", 512 * 1024 * 1024, minimum=1024)
# Files per zip: a batch job's zip takes API_MAX_FILES (as many as files per request);
# a training zip of class folders this many (about 20 s of work on a 2-core machine
# for CIFAR-sized images; larger datasets: `manage.py import_images`).
API_MAX_TRAINING_ARCHIVE_FILES = env_int("API_MAX_TRAINING_ARCHIVE_FILES", 10_000, minimum=1)
# Real threads per web process that decode, resize and re-encode uploads (gevent's
# event loop keeps serving meanwhile). Each holds at most one image: about 350 MB at
# the 64-megapixel limit (Pillow keeps RGB at 4 bytes a pixel), so this also bounds
# a process's memory for decoding, however many heavy requests arrive.
IMAGE_DECODE_THREADS = env_int("IMAGE_DECODE_THREADS", 2, minimum=1)
# Stored copies of uploads are re-encoded without metadata (EXIF and GPS, XMP,
# comments), upright, with their longest side at most this many pixels: plenty for
# thumbnails, previews and training at 32x32, and a stored file of at most about
# 3 MB (a PNG of noise; a photo stored as JPEG is a few hundred KB).
STORED_IMAGE_MAX_SIDE = env_int("STORED_IMAGE_MAX_SIDE", 1024, minimum=64)
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS", [])
SERVICE_STARTED_AT = datetime.now(UTC)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
