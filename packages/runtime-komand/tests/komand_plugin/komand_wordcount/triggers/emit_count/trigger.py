import komand

from .schema import EmitCountInput, EmitCountOutput


class EmitCount(komand.Trigger):
    def __init__(self):
        super(self.__class__, self).__init__(
            name="emit_count",
            description="Emit the word count of a text a few times",
            input=EmitCountInput(),
            output=EmitCountOutput(),
        )

    def run(self, params={}):  # noqa: B006 - the generated signature
        words = len(params.get("text", "").split())
        for number in range(1, params.get("times", 2) + 1):
            self.logger.info("Emitting round %d", number)
            self.send({"count": words, "round": number})
