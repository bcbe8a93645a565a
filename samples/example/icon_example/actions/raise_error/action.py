import base64
import sys

import insightconnect_plugin_runtime
from insightconnect_plugin_runtime.exceptions import (
    APIException,
    ClientException,
    ConnectionTestException,
    PluginException,
    ServerException,
)

from .schema import Component, RaiseErrorInput, RaiseErrorOutput


class RaiseError(insightconnect_plugin_runtime.Action):
    def __init__(self):
        super(self.__class__, self).__init__(
            name="raise_error",
            description=Component.DESCRIPTION,
            input=RaiseErrorInput(),
            output=RaiseErrorOutput(),
        )

    def run(self, params={}):
        kind = params.get("kind")
        secret = self.connection.api_key
        self.logger.info(f"About to fail with {kind}")
        if kind == "plugin":
            raise PluginException(preset=PluginException.Preset.NOT_FOUND, data="no such greeting")
        if kind == "api":
            raise APIException(preset=PluginException.Preset.RATE_LIMIT, status_code=429)
        if kind == "connection_test":
            raise ConnectionTestException(preset=ConnectionTestException.Preset.API_KEY)
        if kind == "client":
            raise ClientException("the greeting request was malformed")
        if kind == "server":
            raise ServerException("the greeting service failed")
        if kind == "value":
            raise ValueError("greetings ran out")
        if kind == "system_exit":
            sys.exit(3)
        if kind == "keyboard_interrupt":
            raise KeyboardInterrupt
        if kind == "bad_output":
            return {"result": 42}
        if kind == "leak_secret":
            encoded = base64.b64encode(f"token:{secret}".encode()).decode()
            self.logger.info(f"calling https://api.example.com/?key={secret} with Authorization: Basic {encoded}")
            raise PluginException(cause=f"The key {secret} was refused", data={"echo": secret, "b64": encoded})
        if kind == "structlog":
            return self.log_through_structlog(secret)
        return {"result": f"no error, key {secret}"}

    @staticmethod
    def log_through_structlog(secret):
        # Some plugins log through structlog directly, not through self.logger. Imported here, as a
        # helper module of theirs would, so the runtime has not loaded structlog before.
        import structlog

        encoded = base64.b64encode(f"token:{secret}".encode()).decode()
        log = structlog.get_logger("example helpers")
        log.info("Direct structlog line", url=f"https://api.example.com/?key={secret}")
        log.warning("Direct structlog %s line, Authorization: Basic %s", "formatted", encoded)
        structlog.get_logger().error("Unnamed structlog line", name="clash", key=secret)
        return {"result": "logged through structlog"}
