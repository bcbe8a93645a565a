import insightconnect_plugin_runtime

from .schema import Component, GreetInput, GreetOutput, Input, Output


class Greet(insightconnect_plugin_runtime.Action):
    def __init__(self):
        super(self.__class__, self).__init__(
            name="greet", description=Component.DESCRIPTION, input=GreetInput(), output=GreetOutput()
        )

    def run(self, params={}):  # noqa: B006 - the generated signature
        name = params.get(Input.NAME)
        self.logger.info(f"Greeting {name}")
        return {Output.GREETING: f"Hello, {name}!"}
