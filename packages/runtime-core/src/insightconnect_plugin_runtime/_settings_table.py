"""The table of every environment variable the runtime reads, served as ``settings.VARIABLES``."""

from __future__ import annotations

from typing import NamedTuple


class Variable(NamedTuple):
    """One environment variable: who reads it, what kind of value it takes, its default, its effect."""

    name: str
    kind: str  # flag, number, text, names
    default: str
    reader: str  # the distribution that reads it
    effect: str


VARIABLES: tuple[Variable, ...] = (
    Variable(
        "PLUGIN_RUNTIME_ENVIRONMENT",
        "text",
        "(unset)",
        "core",
        "`cloud`: cloud mode (JSON log lines, cloud metrics, task configuration); anything else: on-prem",
    ),
    Variable(
        "TRACK_WORK",
        "flag",
        "on on-prem, off in the cloud",
        "core, http",
        "count step work in flight; `/api/v1/admin/status`",
    ),
    Variable(
        "SSL_CERT_FILE", "text", "(unset)", "core, helpers", "CA bundle for trigger event posts and `helper` requests"
    ),
    Variable("ICON_RUNTIME_DISPATCH_TIMEOUT", "number", "30", "core", "seconds a trigger event post may take"),
    Variable(
        "ICON_RUNTIME_CACHE_DIR", "text", "/workspace/cache/", "core", "where trigger checkpoints and the outbox live"
    ),
    Variable("ICON_RUNTIME_FLAG_DIR", "text", "/workspace/tmp/", "core", "where flag files live"),
    Variable(
        "ICON_RUNTIME_DISABLED_EXTENSIONS", "names", "(none)", "core", "comma-separated entry-point names not to load"
    ),
    Variable(
        "ICON_RUNTIME_OUTBOX",
        "flag",
        "on",
        "core",
        "keep trigger events in the outbox until the orchestrator acknowledges them",
    ),
    Variable("ICON_RUNTIME_OUTBOX_RETRIES", "number", "5", "core", "retries of one event post after the first attempt"),
    Variable(
        "ICON_RUNTIME_OUTBOX_BACKOFF",
        "number",
        "0.5",
        "core",
        "first retry delay in seconds (doubled per retry, at most 30)",
    ),
    Variable("ICON_RUNTIME_OUTBOX_MAX", "number", "10000", "core", "pending events allowed before `send` raises"),
    Variable(
        "ICON_RUNTIME_OUTBOX_SEEN", "number", "10000", "core", "acknowledged event keys kept to drop re-emitted events"
    ),
    Variable("ICON_RUNTIME_OUTBOX_DEAD_MAX", "number", "10000", "core", "dead letters kept"),
    Variable(
        "ICON_RUNTIME_BENCH_NO_PROCESS_MASKING", "flag", "off", "core", "benchmarks only: no process-wide log masking"
    ),
    Variable(
        "ICON_RUNTIME_TEST_KILL_AT",
        "text",
        "(unset)",
        "core",
        "tests only: `<point>:<n>` kills the process at a trigger delivery point",
    ),
    Variable(
        "otel_tracing",
        "text",
        "(unset)",
        "tracing",
        "OTLP endpoint spans are exported to (the standard `OTEL_*` variables are OpenTelemetry's own)",
    ),
    Variable("CPS_ENDPOINT", "text", "(unset)", "http", "cloud: the config service giving tasks their `custom_config`"),
    Variable("ICON_RUNTIME_CPS_ATTEMPTS", "number", "3", "http", "config service: attempts per fetch"),
    Variable("ICON_RUNTIME_CPS_TIMEOUT", "number", "1", "http", "config service: seconds per attempt"),
    Variable("ICON_RUNTIME_CPS_BACKOFF", "number", "0.25", "http", "config service: first delay between attempts"),
    Variable("ICON_RUNTIME_CPS_DEADLINE", "number", "4", "http", "config service: seconds for all attempts"),
    Variable(
        "GUNICORN_CONFIG_FILE",
        "text",
        "(unset)",
        "http",
        "JSON file (relative to the working directory) overriding gunicorn settings key by key",
    ),
    Variable(
        "ICON_RUNTIME_FAST_PATH",
        "flag",
        "on",
        "http",
        "step requests bypass Flask's request cycle when no hook needs it",
    ),
    Variable("ICON_RUNTIME_ADMIN", "flag", "on", "http", "`off` removes the admin endpoints (404)"),
    Variable(
        "ICON_RUNTIME_FAILURE_BUNDLE_DIR",
        "text",
        "",
        "http",
        "a directory: every failing step writes a masked failure bundle there (0600; the test kit replays it)",
    ),
    Variable("ICON_RUNTIME_FAILURE_BUNDLE_MAX_BYTES", "number", "1048576", "http", "size bound of one failure bundle"),
    Variable(
        "ICON_RUNTIME_FAILURE_BUNDLE_MAX_FILES",
        "number",
        "100",
        "http",
        "failure bundles kept before no more are written",
    ),
    Variable(
        "ICON_RUNTIME_STDLIB_JSON",
        "flag",
        "off",
        "http",
        "`on` writes and parses step JSON with the standard library even when msgspec (`[fast-json]`) is installed",
    ),
    Variable("ICON_RUNTIME_ADMIN_TOKEN", "text", "(unset)", "http", "bearer token the admin endpoints require"),
    Variable("ICON_RUNTIME_ADMIN_TOKEN_FILE", "text", "(unset)", "http", "file holding that token (a mounted Secret)"),
    Variable("ICON_RUNTIME_MAX_WORKERS", "number", "from CPUs and memory", "http", "ceiling of `/api/v1/workers/add`"),
    Variable(
        "ICON_RUNTIME_SHUTDOWN_STOPS_SERVER",
        "flag",
        "on",
        "http",
        "admin shutdown stops gunicorn once step work drained",
    ),
    Variable(
        "ICON_RUNTIME_SHUTDOWN_DELAY",
        "number",
        "0",
        "http",
        "seconds admin shutdown keeps serving (readiness 503) first",
    ),
    Variable("ICON_RUNTIME_MAX_BODY_BYTES", "number", "50331648 (48 MiB)", "http", "largest step request body (413)"),
    Variable("ICON_RUNTIME_MAX_JSON_DEPTH", "number", "100", "http", "deepest JSON nesting of a body (400)"),
    Variable("ICON_RUNTIME_MAX_JSON_CONTAINERS", "number", "100000", "http", "most arrays and objects in a body (413)"),
    Variable("ICON_RUNTIME_MAX_JSON_VALUES", "number", "500000", "http", "most values in a body (413)"),
    Variable("ICON_RUNTIME_BODY_READ_SECONDS", "number", "30", "http", "seconds a body may take to arrive (408)"),
    Variable("ICON_RUNTIME_PLUGIN_SPEC", "text", "(unset)", "http", "path of `plugin.spec.yaml`, looked at first"),
    Variable("PROMETHEUS_MULTIPROC_DIR", "text", "a temporary directory", "http", "where worker metrics are shared"),
)
