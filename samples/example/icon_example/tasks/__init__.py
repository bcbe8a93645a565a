from .monitor_events.task import MonitorEvents  # noqa: F401
