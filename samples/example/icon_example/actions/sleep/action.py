import time

import insightconnect_plugin_runtime

from .schema import Component, Input, Output, SleepInput, SleepOutput


class Sleep(insightconnect_plugin_runtime.Action):
    def __init__(self):
        super(self.__class__, self).__init__(
            name="sleep",
            description=Component.DESCRIPTION,
            input=SleepInput(),
            output=SleepOutput(),
        )

    def run(self, params={}):
        seconds = float(params.get(Input.SECONDS, 1))
        self.logger.info("Sleeping %s seconds", seconds)
        time.sleep(seconds)
        return {Output.SLEPT: seconds}
