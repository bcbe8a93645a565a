"""``bin/<plugin> http``: serve a plugin over HTTP with gunicorn and Flask.

Core finds :func:`serve` through the ``insightconnect_plugin_runtime.server`` entry point, so Flask
and gunicorn are imported only when a plugin is actually served. :class:`PluginServer` keeps the
class name and constructor plugins' test fixtures use to build the app directly.

Names plugins' tests patch are defined here and looked up here at call time:
``request_get`` (the config-service GET) and ``is_running_in_cloud``.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import shutil
import sys
import tempfile
from typing import Any

from .extensions import ServerOptions
from .settings import flag, text
from .util import is_running_in_cloud

__all__ = [
    "API_TITLE",
    "API_VERSION",
    "OPEN_API_VERSION",
    "VERSION_MAPPING",
    "PluginServer",
    "is_running_in_cloud",
    "request_get",
    "serve",
]

API_TITLE = "InsightConnect Plugin Runtime API"
API_VERSION = "1.0"
OPEN_API_VERSION = "3.1.0"
VERSION_MAPPING = {"legacy": "/", "v1": "/api/v1"}
#: Largest config-service answer read (a runaway response must not exhaust memory).
MAX_CONFIG_BYTES = 16 * 1024 * 1024

log = logging.getLogger("insightconnect_plugin_runtime.server")


class ConfigResponse:
    """The little of ``requests.Response`` the config-service client uses."""

    def __init__(self, status_code: int, content: bytes, url: str) -> None:
        self.status_code = status_code
        self.content = content
        self.url = url

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            import urllib.error

            raise urllib.error.HTTPError(self.url, self.status_code, f"HTTP {self.status_code}", None, None)  # type: ignore[arg-type]


def request_get(url: str, timeout: float = 1.0, **_: Any) -> ConfigResponse:
    """GET ``url`` (the config service) with a timeout; plugins' tests patch this name."""
    import urllib.error  # only the cloud talks to the config service: no import cost on-prem
    import urllib.request

    request = urllib.request.Request(url, headers={"Accept": "application/json"}, method="GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return ConfigResponse(reply.status, reply.read(MAX_CONFIG_BYTES), url)
    except urllib.error.HTTPError as error:
        return ConfigResponse(error.code, error.read(MAX_CONFIG_BYTES) if error.fp else b"", url)


def _config_getter(url: str, timeout: float) -> Any:
    return sys.modules[__name__].request_get(url, timeout=timeout)


class PluginServer:
    """The app, its settings and shared state for one plugin; :meth:`start` runs gunicorn."""

    def __init__(
        self,
        plugin: Any,
        port: int = 10001,
        workers: int = 1,
        threads: int = 4,
        debug: bool = False,
        worker_class: str = "sync",
        worker_connections: int = 200,
        graceful_timeout: int = 30,
        bind_host: str = "0.0.0.0",
        metrics: bool = False,
        options: ServerOptions | None = None,
    ) -> None:
        """Keyword settings are the constructor plugins' fixtures call; ``options`` (what
        ``bin/<plugin> http`` parsed) replaces them all when given."""
        from .api._custom_config import ConfigStore
        from .api._settings import build_settings
        from .api._shared import SharedState

        self.plugin = plugin
        self.options = options or ServerOptions(
            port=port,
            workers=workers,
            threads=threads,
            worker_class=worker_class,
            worker_connections=worker_connections,
            graceful_timeout=graceful_timeout,
            debug=debug,
            bind_host=bind_host,
        )
        self.debug = self.options.debug
        self.cloud = sys.modules[__name__].is_running_in_cloud()
        self.settings = build_settings(self.options, self.cloud)
        self.workers, self.threads = self.settings.workers, self.settings.threads
        self.state = SharedState(max_workers=self.settings.max_workers)
        self.config_store = ConfigStore(plugin, text("CPS_ENDPOINT") or None, _config_getter)
        if self.cloud:
            self.config_store.fetch()
        self.metrics = None
        if metrics:
            from .api._metrics import Metrics

            self.metrics = Metrics()
        self._app: Any = None
        self._deferred: Any = None

    @property
    def app(self) -> Any:
        """The Flask app with every endpoint, the fast path and the metrics (built on first use)."""
        if self._app is None:
            self._app = self.create_flask_app()
        return self._app

    @app.setter
    def app(self, app: Any) -> None:
        self._app = app

    def create_flask_app(self) -> Any:
        from .api.endpoints import Endpoints
        from .extensions import server_hooks

        self.endpoints = Endpoints(self.plugin, self.settings, self.state, None, self.config_store, self.metrics)
        app = self.endpoints.create_app()
        for hook in server_hooks():
            init_app = getattr(hook, "init_app", None)
            if callable(init_app):
                try:
                    init_app(app, self.plugin, self.config_store.options)
                except Exception:
                    log.warning("A server hook failed in init_app", exc_info=True)
        if flag("ICON_RUNTIME_FAST_PATH", True):
            self.endpoints.enable_fast_path(app)
        return app

    @property
    def config_options(self) -> dict[str, Any]:
        """The config service's current answer: a view of the store, so a later fetch shows here too."""
        return self.config_store.options

    @config_options.setter
    def config_options(self, options: dict[str, Any]) -> None:
        self.config_store.options = options

    @property
    def spec(self) -> Any:
        """The parsed plugin.spec.yaml (read on first use)."""
        if "endpoints" not in self.__dict__:
            self.app  # noqa: B018 - the endpoints are built with the app
        return self.endpoints.spec

    # Plugins' fixtures call it; the app is complete when built, so there is nothing left to do.
    def register_blueprint(self) -> None:
        return None

    def register_api_spec(self) -> None:
        return None

    def _post_fork(self, server: Any, worker: Any) -> None:
        from .extensions import server_hooks

        self.config_store.refresh_in_background()
        if self._deferred is not None:  # no hook wanted the app (``_may_defer_app``): nothing to run
            return
        for hook in server_hooks():
            post_fork = getattr(hook, "post_fork", None)
            if callable(post_fork):
                post_fork(self.app, self.plugin, self.config_store.options)

    def _may_defer_app(self) -> bool:
        """Whether the master may fork its first workers before building the Flask app: the fast
        path answers step requests without it, and no server hook wants the app at start."""
        from .extensions import server_hooks

        if self._app is not None or not flag("ICON_RUNTIME_FAST_PATH", True):
            return False
        options = self.config_store.options
        return not any(_wants_app(hook, self.plugin, options) for hook in server_hooks())

    def _deferred_wsgi_app(self) -> Any:
        """Metrics around the fast path around the Flask app built on first use (``_deferred_app``):
        the same layers, in the same order, as :meth:`create_flask_app` puts inside the app."""
        from .api._deferred_app import DeferredApp
        from .api._fastpath import StepFastPath
        from .api._log import bind_request_context
        from .api._step_routes import StepEndpoints

        self._deferred = deferred = DeferredApp(self._build_deferred_app)
        steps = StepEndpoints(self.plugin, self.settings, self.state, self.config_store)
        wsgi: Any = StepFastPath(deferred, steps, bind_request_context if self.cloud else None)
        if self.metrics is not None:
            from .api._metrics import MetricsMiddleware

            wsgi = MetricsMiddleware(wsgi, self.metrics, deferred.url_map)
        return wsgi

    def _build_deferred_app(self) -> Any:
        from .api.endpoints import Endpoints

        self.endpoints = Endpoints(self.plugin, self.settings, self.state, None, self.config_store, self.metrics)
        return self.endpoints.create_app(middleware=False)

    def _build_app_in_master(self) -> None:
        """After the first forks: workers forked later share the app and the loaded metrics library
        instead of each loading them (the first ones load them after their first answer)."""
        if self.metrics is not None:
            self.metrics.load()
        if self._deferred is not None:
            self._deferred.app  # noqa: B018 - builds it
        gc.freeze()

    @staticmethod
    def _child_exit(server: Any, worker: Any) -> None:
        from .api._metrics import mark_process_dead

        mark_process_dead(worker.pid)

    def _report_invalid_schema_values(self) -> None:
        """Once, in the master after the first fork: schema defaults/examples the OpenAPI document leaves out."""
        from .api._openapi import invalid_schema_values

        try:
            problems = invalid_schema_values(self.plugin)
        except Exception:  # noqa: BLE001 - a report must never stop the server from starting
            log.warning("Could not check the plugin's schemas for the OpenAPI document", exc_info=True)
            return
        for problem in problems:
            log.warning("Plugin schema value fails its own schema: %s", problem)

    def start(self) -> int:
        """Run gunicorn until it stops; returns its exit status."""
        from .api._gunicorn import PluginApplication
        from .api._log import gunicorn_logger_class
        from .api._memory import keep_freed_memory, limit_malloc_arenas

        settings = dict(self.settings.gunicorn)
        settings.setdefault("logger_class", gunicorn_logger_class(self.cloud, self.debug))
        self.state.master_pid = os.getpid()
        limit_malloc_arenas()  # before the fork: the workers' threads share what large requests freed
        keep_freed_memory()  # ... and keep it for the next large request instead of faulting it in anew
        wsgi = self._deferred_wsgi_app() if self._may_defer_app() else self.app
        # Objects built so far live as long as the server: keep the collector off them (shorter pauses
        # in the workers, fewer copy-on-write pages). Only the young generations are collected first:
        # a full collection walks every object for garbage start-up does not leave.
        gc.collect(1)
        gc.freeze()
        # Building the deferred app, and the schema report (it builds the OpenAPI document and
        # imports jsonschema), happen once the first workers are forked: they never delay the first
        # answer.
        application = PluginApplication(
            wsgi,
            settings,
            self.state,
            post_fork=[self._post_fork],
            child_exit=[self._child_exit],
            after_start=[self._build_app_in_master, self._report_invalid_schema_values],
        )
        try:
            application.run()
        except SystemExit as stop:
            if os.getpid() != self.state.master_pid:
                raise  # a worker leaving: let it exit without running the master's clean-up
            return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        return 0


def serve(plugin: Any, options: ServerOptions) -> int:
    """Entry point of ``bin/<plugin> http``; returns the process exit code."""
    from .api._log import configure_server_logging
    from .api._settings import ConfigFileError

    cloud = sys.modules[__name__].is_running_in_cloud()
    configure_server_logging(json_lines=cloud, debug=options.debug)
    runtime_dir = tempfile.mkdtemp(prefix="icon-runtime-http-")
    owner = os.getpid()
    metrics_dir = os.path.join(runtime_dir, "metrics")
    os.mkdir(metrics_dir)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        try:
            server = PluginServer(plugin, metrics=True, options=options)
        except ConfigFileError as error:
            log.error("%s", error)
            return 2
        return server.start()
    finally:
        if os.getpid() == owner:
            shutil.rmtree(runtime_dir, ignore_errors=True)


def _wants_app(hook: Any, plugin: Any, options: Any) -> bool:
    """Whether a server hook needs the Flask app at start: it has ``init_app`` or ``post_fork`` and
    does not say otherwise through the optional ``needs_app(plugin, config)`` (a hook that fails to
    answer is taken to need it)."""
    if not any(callable(getattr(hook, name, None)) for name in ("init_app", "post_fork")):
        return False
    needs_app = getattr(hook, "needs_app", None)
    if not callable(needs_app):
        return True
    try:
        return bool(needs_app(plugin, options))
    except Exception:
        log.warning("A server hook failed in needs_app; building the app at start", exc_info=True)
        return True
