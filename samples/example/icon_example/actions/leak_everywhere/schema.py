import json

import insightconnect_plugin_runtime


class Component:
    DESCRIPTION = "Put the connection's secrets on every output path (for testing masking)"


class LeakEverywhereInput(insightconnect_plugin_runtime.Input):
    schema = json.loads(
        """
{
  "type": "object",
  "title": "Variables",
  "properties": {
    "tag": {"type": "string", "title": "Tag", "description": "Marks this call's log lines", "order": 1},
    "url": {"type": "string", "title": "URL", "description": "A server that fails every request", "order": 2},
    "fail": {"type": "boolean", "title": "Fail", "default": false, "order": 3}
  },
  "required": ["tag"]
}
"""
    )

    def __init__(self):
        super(self.__class__, self).__init__(self.schema)


class LeakEverywhereOutput(insightconnect_plugin_runtime.Output):
    schema = json.loads(
        """
{
  "type": "object",
  "title": "Variables",
  "properties": {
    "echo": {"type": "string", "title": "Echo", "order": 1},
    "encoded": {"title": "Encoded", "description": "Rendered by the plugin's JSON encoder", "order": 2}
  },
  "required": ["echo"]
}
"""
    )

    def __init__(self):
        super(self.__class__, self).__init__(self.schema)
