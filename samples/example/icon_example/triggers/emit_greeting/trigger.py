import time

import insightconnect_plugin_runtime

from .schema import Component, EmitGreetingInput, EmitGreetingOutput


class EmitGreeting(insightconnect_plugin_runtime.Trigger):
    def __init__(self):
        super(self.__class__, self).__init__(
            name="emit_greeting",
            description=Component.DESCRIPTION,
            input=EmitGreetingInput(),
            output=EmitGreetingOutput(),
        )

    def run(self, params={}):
        name = params.get("name", "World")
        interval = params.get("interval", 1)
        count = params.get("count", 0)
        number = self.state.get("last_number", 0)
        if count and number >= count:  # restarted after its last checkpoint: nothing left to emit
            return {"message": f"Sent {number} greetings", "number": number}
        while self.run_trigger:
            number += 1
            self.logger.info(f"Emitting greeting {number}")
            self.send({"message": f"{self.connection.greeting_prefix}, {name}!", "number": number})
            self.state["last_number"] = number
            if self.state_file:
                self._save_state()
            if count and number >= count:
                return {"message": f"Sent {number} greetings", "number": number}
            time.sleep(interval)

    def test(self, params={}):
        return {"message": "Test greeting", "number": 0}
