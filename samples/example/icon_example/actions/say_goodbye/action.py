import insightconnect_plugin_runtime

from .schema import Component, SayGoodbyeInput, SayGoodbyeOutput


class SayGoodbye(insightconnect_plugin_runtime.Action):
    def __init__(self):
        super(self.__class__, self).__init__(
            name="say_goodbye",
            description=Component.DESCRIPTION,
            input=SayGoodbyeInput(),
            output=SayGoodbyeOutput(),
        )

    def run(self, params={}):
        times = params.get("times", 1)
        messages = [f"Goodbye, {params['name']}!" for _ in range(times)]
        self.logger.info("Said goodbye", times=times)
        return {"messages": messages, "count": len(messages)}
