import insightconnect_plugin_runtime

from .schema import ConnectionSchema, Input


class Connection(insightconnect_plugin_runtime.Connection):
    def __init__(self):
        super(self.__class__, self).__init__(input=ConnectionSchema())

    def connect(self, params={}):  # noqa: B006 - the generated signature
        self.username = params.get(Input.CREDENTIALS, {}).get("username")
        self.logger.info("Connected")
