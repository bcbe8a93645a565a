import insightconnect_plugin_runtime
from insightconnect_plugin_runtime.exceptions import ConnectionTestException

from .schema import ConnectionSchema


class Connection(insightconnect_plugin_runtime.Connection):
    def __init__(self):
        super(self.__class__, self).__init__(input=ConnectionSchema())
        self.api_key = None
        self.greeting_prefix = "Hello"
        self.pin = None

    def connect(self, params):
        self.logger.info("Connecting to the example service")
        self.api_key = params["api_key"]["secretKey"]
        self.greeting_prefix = params.get("greeting_prefix") or "Hello"
        self.pin = params.get("pin")

    def test(self):
        if self.api_key == "bad-key":
            raise ConnectionTestException(preset=ConnectionTestException.Preset.API_KEY)
        return {"success": True}

    def test_task(self, task_name=None):
        self.test()
        return {"success": True}, f"The example service accepts the key for task {task_name}."
