import json

import komand


class Input:
    TEXT = "text"


class Output:
    COUNT = "count"
    WORDS = "words"


class CountWordsInput(komand.Input):
    schema = json.loads("""
   {
  "type": "object",
  "title": "Variables",
  "properties": {
    "text": {"type": "string", "title": "Text", "description": "Text to count", "order": 1}
  },
  "required": ["text"]
}
    """)

    def __init__(self):
        super(self.__class__, self).__init__(self.schema)


class CountWordsOutput(komand.Output):
    schema = json.loads("""
   {
  "type": "object",
  "title": "Variables",
  "properties": {
    "count": {"type": "integer", "title": "Count", "order": 1},
    "words": {"type": "array", "title": "Words", "items": {"type": "string"}, "order": 2}
  },
  "required": ["count"]
}
    """)

    def __init__(self):
        super(self.__class__, self).__init__(self.schema)
