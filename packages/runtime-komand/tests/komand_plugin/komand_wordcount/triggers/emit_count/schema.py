import json

import komand


class EmitCountInput(komand.Input):
    schema = json.loads("""
   {
  "type": "object",
  "title": "Variables",
  "properties": {
    "text": {"type": "string", "title": "Text", "order": 1},
    "times": {"type": "integer", "title": "Times", "default": 2, "order": 2}
  },
  "required": ["text"]
}
    """)

    def __init__(self):
        super(self.__class__, self).__init__(self.schema)


class EmitCountOutput(komand.Output):
    schema = json.loads("""
   {
  "type": "object",
  "title": "Variables",
  "properties": {
    "count": {"type": "integer", "title": "Count", "order": 1},
    "round": {"type": "integer", "title": "Round", "order": 2}
  }
}
    """)

    def __init__(self):
        super(self.__class__, self).__init__(self.schema)
