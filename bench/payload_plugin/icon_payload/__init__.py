"""A plugin with one action that returns its input unchanged: what the runtime costs per byte moved.

The connection schema is shaped like a generated one (a username/password credential ``$ref``). The
echo schemas type ``text`` and ``items`` but do not describe each item, so the figure is the cost of
moving the data (reading, parsing, masking, logging, writing), not of validating 10,000 objects: the
reference validates with ``jsonschema`` on every call, and item schemas would make it several times
slower (the comparison would then flatter us).
"""

import insightconnect_plugin_runtime

CONNECTION_SCHEMA = {
    "type": "object",
    "title": "Variables",
    "properties": {
        "credentials": {"$ref": "#/definitions/credential_username_password", "title": "Credentials", "order": 1}
    },
    "definitions": {
        "credential_username_password": {
            "id": "credential_username_password",
            "type": "object",
            "title": "Credential: Username and Password",
            "properties": {
                "username": {"type": "string", "title": "Username", "order": 1},
                "password": {"type": "string", "title": "Password", "displayType": "password", "order": 2},
            },
            "required": ["username", "password"],
        }
    },
}


def _echo_schema():
    return {
        "type": "object",
        "title": "Variables",
        "properties": {
            "text": {"type": "string", "title": "Text", "order": 1},
            "items": {"type": "array", "title": "Items", "order": 2},
        },
        "required": ["text", "items"],
    }


class ConnectionSchema(insightconnect_plugin_runtime.Input):
    schema = CONNECTION_SCHEMA

    def __init__(self):
        super(self.__class__, self).__init__(self.schema)


class EchoInput(insightconnect_plugin_runtime.Input):
    schema = _echo_schema()

    def __init__(self):
        super(self.__class__, self).__init__(self.schema)


class EchoOutput(insightconnect_plugin_runtime.Output):
    schema = _echo_schema()

    def __init__(self):
        super(self.__class__, self).__init__(self.schema)


class Connection(insightconnect_plugin_runtime.Connection):
    def __init__(self):
        super(self.__class__, self).__init__(input=ConnectionSchema())

    def connect(self, params):
        self.logger.info("Connected")

    def test(self):
        return {"success": True}


class Echo(insightconnect_plugin_runtime.Action):
    def __init__(self):
        super(self.__class__, self).__init__(
            name="echo", description="Return the input unchanged", input=EchoInput(), output=EchoOutput()
        )

    def run(self, params={}):  # noqa: B006 - the generated signature
        self.logger.info("Echoing %d characters and %d items", len(params["text"]), len(params["items"]))
        return {"text": params["text"], "items": params["items"]}
