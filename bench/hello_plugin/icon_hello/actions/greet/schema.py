import json

import insightconnect_plugin_runtime


class Component:
    DESCRIPTION = "Builds a greeting"


class Input:
    NAME = "name"


class Output:
    GREETING = "greeting"


class GreetInput(insightconnect_plugin_runtime.Input):
    schema = json.loads(r"""
{
  "type": "object",
  "title": "Variables",
  "properties": {"name": {"type": "string", "title": "Name", "description": "Who to greet", "order": 1}},
  "required": ["name"],
  "definitions": {}
}
""")

    def __init__(self):
        super(self.__class__, self).__init__(self.schema)


class GreetOutput(insightconnect_plugin_runtime.Output):
    schema = json.loads(r"""
{
  "type": "object",
  "title": "Variables",
  "properties": {"greeting": {"type": "string", "title": "Greeting", "description": "The greeting", "order": 1}},
  "required": ["greeting"],
  "definitions": {}
}
""")

    def __init__(self):
        super(self.__class__, self).__init__(self.schema)
