import json

import insightconnect_plugin_runtime


class ConnectionSchema(insightconnect_plugin_runtime.Input):
    schema = json.loads(
        """
{
  "type": "object",
  "title": "Variables",
  "properties": {
    "api_key": {"$ref": "#/definitions/credential_secret_key", "title": "API Key", "order": 1},
    "greeting_prefix": {"type": "string", "title": "Greeting Prefix", "default": "Hello", "order": 2},
    "pin": {"type": "integer", "title": "PIN", "format": "password", "order": 3}
  },
  "required": ["api_key"],
  "definitions": {
    "credential_secret_key": {
      "id": "credential_secret_key",
      "type": "object",
      "title": "Credential: Secret Key",
      "properties": {"secretKey": {"type": "string", "title": "Secret Key", "displayType": "password"}},
      "required": ["secretKey"]
    }
  }
}
"""
    )

    def __init__(self):
        super(self.__class__, self).__init__(self.schema)
