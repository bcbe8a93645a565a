#!/usr/bin/env python
"""A stateful trigger for the delivery tests: emits ``input.values`` in order, one checkpoint per event.

Each event is ``{"value": v}``, so repeated values are identical events. Before each ``send`` the
trigger logs ``position <i>`` (it lands in the event's ``body.log``), which lets the test dispatcher
tell identical events apart without changing their content. Resumes from ``state["position"]``.
"""

import insightconnect_plugin_runtime as icon


class Replay(icon.Trigger):
    def __init__(self):
        super().__init__(
            name="replay",
            description="Emit the given values in order",
            input=icon.Input({"type": "object", "properties": {"values": {"type": "array"}}}),
            output=icon.Output({"type": "object", "properties": {"value": {}}, "required": ["value"]}),
        )

    def run(self, params={}):  # noqa: B006 - the plugin API's signature
        values = params.get("values", [])
        position = self.state.get("position", 0)
        while position < len(values) and self.run_trigger:
            self.logger.info(f"position {position}")
            self.send({"value": values[position]})
            position += 1
            self.state["position"] = position
            self._save_state()
        return {"value": position}


class ReplayPlugin(icon.Plugin):
    def __init__(self):
        super().__init__(name="replay", vendor="tests", version="1.0.0", description="delivery tests")
        self.add_trigger(Replay())


if __name__ == "__main__":
    icon.CLI(ReplayPlugin()).run()
