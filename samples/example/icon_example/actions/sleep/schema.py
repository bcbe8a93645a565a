import json

import insightconnect_plugin_runtime


class Component:
    DESCRIPTION = "Wait for a number of seconds, then answer (for testing slow steps and shutdown)"


class Input:
    SECONDS = "seconds"


class Output:
    SLEPT = "slept"


class SleepInput(insightconnect_plugin_runtime.Input):
    schema = json.loads(
        """
{
  "type": "object",
  "title": "Variables",
  "properties": {
    "seconds": {"type": "number", "title": "Seconds", "description": "How long to wait", "minimum": 0,
                "maximum": 60, "default": 1, "order": 1}
  },
  "required": ["seconds"]
}
"""
    )

    def __init__(self):
        super(self.__class__, self).__init__(self.schema)


class SleepOutput(insightconnect_plugin_runtime.Output):
    schema = json.loads(
        """
{
  "type": "object",
  "title": "Variables",
  "properties": {"slept": {"type": "number", "title": "Slept", "description": "Seconds waited", "order": 1}},
  "required": ["slept"]
}
"""
    )

    def __init__(self):
        super(self.__class__, self).__init__(self.schema)
