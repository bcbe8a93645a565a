import re

import komand

from .schema import FetchTitleInput, FetchTitleOutput


class FetchTitle(komand.Action):
    def __init__(self):
        super(self.__class__, self).__init__(
            name="fetch_title",
            description="Fetch a page and return its title",
            input=FetchTitleInput(),
            output=FetchTitleOutput(),
        )

    def run(self, params={}):  # noqa: B006 - the generated signature
        page = komand.helper.open_url(params.get("url")).read().decode("utf-8", "replace")
        found = re.search(r"<title>(.*?)</title>", page, re.S)
        return {"title": found.group(1).strip() if found else ""}
