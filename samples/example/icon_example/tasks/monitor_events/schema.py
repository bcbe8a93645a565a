import json

import insightconnect_plugin_runtime


class Component:
    DESCRIPTION = "Page through example events since the last run"


class MonitorEventsInput(insightconnect_plugin_runtime.Input):
    schema = json.loads(
        """
{
  "type": "object",
  "title": "Variables",
  "properties": {
    "page_size": {"type": "integer", "title": "Page Size", "default": 3, "minimum": 1, "order": 1},
    "total": {"type": "integer", "title": "Total", "description": "Events available upstream", "default": 7, "order": 2}
  }
}
"""
    )

    def __init__(self):
        super(self.__class__, self).__init__(self.schema)


class MonitorEventsState(insightconnect_plugin_runtime.State):
    schema = json.loads(
        """
{
  "type": "object",
  "title": "Variables",
  "properties": {"cursor": {"type": "integer", "title": "Cursor", "order": 1}}
}
"""
    )

    def __init__(self):
        super(self.__class__, self).__init__(self.schema)


class MonitorEventsOutput(insightconnect_plugin_runtime.Output):
    schema = json.loads(
        """
{
  "type": "array",
  "title": "Events",
  "items": {"$ref": "#/definitions/event"},
  "definitions": {
    "event": {
      "type": "object",
      "title": "Event",
      "properties": {"id": {"type": "integer"}, "text": {"type": "string"}},
      "required": ["id", "text"]
    }
  }
}
"""
    )

    def __init__(self):
        super(self.__class__, self).__init__(self.schema)
