import json

import komand


class Input:
    API_KEY = "api_key"
    SEPARATOR = "separator"


class ConnectionSchema(komand.Input):
    schema = json.loads("""
   {
  "type": "object",
  "title": "Variables",
  "properties": {
    "api_key": {
      "$ref": "#/definitions/credential_secret_key",
      "title": "API Key",
      "order": 1
    },
    "separator": {
      "type": "string",
      "title": "Separator",
      "default": " ",
      "order": 2
    }
  },
  "required": ["api_key"],
  "definitions": {
    "credential_secret_key": {
      "id": "credential_secret_key",
      "type": "object",
      "title": "Credential: Secret Key",
      "properties": {
        "secretKey": {"type": "string", "title": "Secret Key", "displayType": "password", "format": "password"}
      },
      "required": ["secretKey"]
    }
  }
}
    """)

    def __init__(self):
        super(self.__class__, self).__init__(self.schema)
