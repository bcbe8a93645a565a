import insightconnect_plugin_runtime

from .schema import Component, Input, Output, SayHelloInput, SayHelloOutput


class SayHello(insightconnect_plugin_runtime.Action):
    def __init__(self):
        super(self.__class__, self).__init__(
            name="say_hello",
            description=Component.DESCRIPTION,
            input=SayHelloInput(),
            output=SayHelloOutput(),
        )

    def run(self, params={}):
        name = params.get(Input.NAME)
        self.logger.info("Greeting %s", name)
        return {Output.MESSAGE: f"{self.connection.greeting_prefix}, {name}!"}

    def test(self, params={}):
        return {Output.MESSAGE: "Test greeting"}
