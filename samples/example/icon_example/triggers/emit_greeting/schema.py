import json

import insightconnect_plugin_runtime


class Component:
    DESCRIPTION = "Emit numbered greetings, resuming after the last one delivered"


class EmitGreetingInput(insightconnect_plugin_runtime.Input):
    schema = json.loads(
        """
{
  "type": "object",
  "title": "Variables",
  "properties": {
    "name": {"type": "string", "title": "Name", "order": 1},
    "interval": {"type": "number", "title": "Interval", "description": "Seconds between events", "default": 1, "order": 2},
    "count": {"type": "integer", "title": "Count", "description": "Stop after this many events (0: never)", "default": 0, "order": 3}
  },
  "required": ["name"]
}
"""
    )

    def __init__(self):
        super(self.__class__, self).__init__(self.schema)


class EmitGreetingOutput(insightconnect_plugin_runtime.Output):
    schema = json.loads(
        """
{
  "type": "object",
  "title": "Variables",
  "properties": {
    "message": {"type": "string", "title": "Message", "order": 1},
    "number": {"type": "integer", "title": "Number", "order": 2}
  },
  "required": ["message", "number"]
}
"""
    )

    def __init__(self):
        super(self.__class__, self).__init__(self.schema)
