import json

import insightconnect_plugin_runtime


class Input:
    CREDENTIALS = "credentials"


class ConnectionSchema(insightconnect_plugin_runtime.Input):
    schema = json.loads(r"""
{
  "type": "object",
  "title": "Variables",
  "properties": {
    "credentials": {"$ref": "#/definitions/credential_username_password", "title": "Credentials", "order": 1}
  },
  "required": ["credentials"],
  "definitions": {
    "credential_username_password": {
      "id": "credential_username_password",
      "type": "object",
      "title": "Credential: Username and Password",
      "properties": {
        "username": {"type": "string", "title": "Username", "order": 1},
        "password": {"type": "string", "title": "Password", "format": "password", "displayType": "password", "order": 2}
      },
      "required": ["username", "password"]
    }
  }
}
""")

    def __init__(self):
        super(self.__class__, self).__init__(self.schema)
