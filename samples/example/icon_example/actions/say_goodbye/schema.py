import json

import insightconnect_plugin_runtime


class Component:
    DESCRIPTION = "Say goodbye, as many times as asked"


class SayGoodbyeInput(insightconnect_plugin_runtime.Input):
    schema = json.loads(
        """
{
  "type": "object",
  "title": "Variables",
  "properties": {
    "name": {"type": "string", "title": "Name", "order": 1},
    "times": {"type": "integer", "title": "Times", "default": 1, "minimum": 1, "maximum": 10, "order": 2}
  },
  "required": ["name"]
}
"""
    )

    def __init__(self):
        super(self.__class__, self).__init__(self.schema)


class SayGoodbyeOutput(insightconnect_plugin_runtime.Output):
    schema = json.loads(
        """
{
  "type": "object",
  "title": "Variables",
  "properties": {
    "messages": {"type": "array", "title": "Messages", "items": {"type": "string"}, "order": 1},
    "count": {"type": "integer", "title": "Count", "order": 2}
  },
  "required": ["messages", "count"]
}
"""
    )

    def __init__(self):
        super(self.__class__, self).__init__(self.schema)
