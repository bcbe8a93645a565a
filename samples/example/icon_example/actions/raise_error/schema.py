import json

import insightconnect_plugin_runtime


class Component:
    DESCRIPTION = "Fail in a chosen way (for testing error handling)"


class RaiseErrorInput(insightconnect_plugin_runtime.Input):
    schema = json.loads(
        """
{
  "type": "object",
  "title": "Variables",
  "properties": {
    "kind": {
      "type": "string",
      "title": "Kind",
      "enum": ["plugin", "api", "connection_test", "client", "server", "value", "system_exit",
               "keyboard_interrupt", "bad_output", "leak_secret", "structlog", "none"],
      "default": "plugin",
      "order": 1
    }
  },
  "required": ["kind"]
}
"""
    )

    def __init__(self):
        super(self.__class__, self).__init__(self.schema)


class RaiseErrorOutput(insightconnect_plugin_runtime.Output):
    schema = json.loads(
        """
{
  "type": "object",
  "title": "Variables",
  "properties": {"result": {"type": "string", "title": "Result", "order": 1}},
  "required": ["result"]
}
"""
    )

    def __init__(self):
        super(self.__class__, self).__init__(self.schema)
