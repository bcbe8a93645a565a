import insightconnect_plugin_runtime
from insightconnect_plugin_runtime.exceptions import PluginException

from .schema import Component, MonitorEventsInput, MonitorEventsOutput, MonitorEventsState


class MonitorEvents(insightconnect_plugin_runtime.Task):
    def __init__(self):
        super(self.__class__, self).__init__(
            name="monitor_events",
            description=Component.DESCRIPTION,
            input=MonitorEventsInput(),
            output=MonitorEventsOutput(),
            state=MonitorEventsState(),
        )

    def run(self, params={}, state={}, custom_config={}):
        page_size = custom_config.get("page_size", params.get("page_size", 3))
        total = params.get("total", 7)
        cursor = state.get("cursor", custom_config.get("start_cursor", 0))
        if cursor < 0:
            error = PluginException(preset=PluginException.Preset.BAD_REQUEST, data="negative cursor")
            return [], state, False, 400, error
        events = [{"id": n, "text": f"event {n}"} for n in range(cursor + 1, min(cursor + page_size, total) + 1)]
        new_cursor = events[-1]["id"] if events else cursor
        self.logger.info(f"Returning {len(events)} events after cursor {cursor}")
        return events, {"cursor": new_cursor}, new_cursor < total, 200, None
