import komand
from komand.exceptions import PluginException

from .schema import CountWordsInput, CountWordsOutput


class CountWords(komand.Action):
    def __init__(self):
        super(self.__class__, self).__init__(
            name="count_words",
            description="Count the words of a text",
            input=CountWordsInput(),
            output=CountWordsOutput(),
        )

    def run(self, params={}):  # noqa: B006 - the generated signature
        text = params.get("text", "")
        if text.strip() == "forbidden":
            raise PluginException(cause="The text is forbidden.", assistance="Send another text.")
        words = [word for word in text.split(self.connection.separator) if word]
        self.logger.info("Counted %d words", len(words))
        return komand.helper.clean({"count": len(words), "words": words or None})

    def test(self):
        return {"count": 0}
