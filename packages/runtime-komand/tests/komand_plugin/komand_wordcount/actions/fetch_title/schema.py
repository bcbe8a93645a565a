import json

import komand


class FetchTitleInput(komand.Input):
    schema = json.loads("""
   {
  "type": "object",
  "title": "Variables",
  "properties": {
    "url": {"type": "string", "title": "URL", "order": 1}
  },
  "required": ["url"]
}
    """)

    def __init__(self):
        super(self.__class__, self).__init__(self.schema)


class FetchTitleOutput(komand.Output):
    schema = json.loads("""
   {
  "type": "object",
  "title": "Variables",
  "properties": {
    "title": {"type": "string", "title": "Title", "order": 1}
  }
}
    """)

    def __init__(self):
        super(self.__class__, self).__init__(self.schema)
