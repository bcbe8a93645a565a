import komand
from komand.exceptions import ConnectionTestException

from .schema import ConnectionSchema


class Connection(komand.Connection):
    def __init__(self):
        super(self.__class__, self).__init__(input=ConnectionSchema())
        self.separator = " "
        self.api_key = None

    def connect(self, params={}):  # noqa: B006 - the generated signature
        self.logger.info("Connect: configuring the word counter")
        self.api_key = params.get("api_key", {}).get("secretKey")
        self.separator = params.get("separator") or " "

    def test(self):
        if self.api_key != "good-key":
            raise ConnectionTestException(preset=ConnectionTestException.Preset.API_KEY)
        return {"success": True}
