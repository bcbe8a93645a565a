"""Every way a plugin can let a secret out, for the masking tests: the request thread, an executor, a
bare thread, a helper that fails with the secret in the URL, third-party loggers (one with a handler
of its own), a log extra that cannot be rendered, output that only the plugin's encoder renders, a warning, the
``repr``/``ascii`` forms of the secret, the PIN as a float, and an exception carrying the secret (also as
bytes)."""

import base64
import logging
import re
import sys
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import insightconnect_plugin_runtime
from icon_example.encoding import Opaque

from .schema import Component, LeakEverywhereInput, LeakEverywhereOutput

_urllib3_handler_lock = threading.Lock()


class Unrenderable:
    """A log extra whose text cannot be produced; the error itself names the secret."""

    def __init__(self, secret):
        self.secret = secret

    def __str__(self):
        raise ValueError(f"cannot render {self.secret}")

    __repr__ = __str__


def _verbose_urllib3():
    """Like a plugin that turns on urllib3's debug log with a handler of its own."""
    with _urllib3_handler_lock:
        logger = logging.getLogger("urllib3")
        if not any(isinstance(handler, logging.StreamHandler) for handler in logger.handlers):
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
            logger.addHandler(handler)
            logger.setLevel(logging.DEBUG)


class LeakEverywhere(insightconnect_plugin_runtime.Action):
    def __init__(self):
        super(self.__class__, self).__init__(
            name="leak_everywhere",
            description=Component.DESCRIPTION,
            input=LeakEverywhereInput(),
            output=LeakEverywhereOutput(),
        )

    def _forms(self, secret):
        raw = secret.encode()
        return {
            "plain": secret,
            "quoted": quote(secret),
            "quoted-lower": re.sub("%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(secret, safe="")),
            "hex": raw.hex(),
            "basic": base64.b64encode(b"user:" + raw).decode(),
            "pin": self.connection.pin,
        }

    def run(self, params={}):
        tag = params["tag"]
        secret = self.connection.api_key
        forms = self._forms(secret)
        for name, form in forms.items():
            self.logger.info(f"{tag} request-thread {name}: {form}")
        self.logger.info("%s request-thread bytes: %s ascii: %a", tag, secret.encode(), secret)
        warnings.warn(f"{tag} deprecated call holding {secret}", stacklevel=1)

        def from_worker(where):
            self.logger.info(f"{tag} {where}: {secret} {forms['hex']}")
            logging.getLogger("botocore.credentials").warning("%s %s third-party: %s", tag, where, secret)

        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(from_worker, ["executor-a", "executor-b"]))
        thread = threading.Thread(target=from_worker, args=("bare-thread",))
        thread.start()
        thread.join()

        url = params.get("url")
        if url and not url.startswith(("http://127.0.0.1:", "http://localhost:")):
            self.logger.info(f"{tag} only a loopback test server is called; ignoring the url")
            url = None
        if url:  # imported here: the other actions' one-shot runs do not pay for requests
            import requests

            from insightconnect_plugin_runtime import helper

            try:
                helper.open_url(f"{url}/fail?apikey={quote(secret)}&user=x", timeout=5)
            except helper.HelperError as error:
                self.logger.error(f"{tag} helper failed: {error} ({error.__cause__})")
            _verbose_urllib3()
            response = requests.get(f"{url}/fail", params={"apikey": secret}, timeout=5)
            self.logger.info(f"{tag} requests answered {response.status_code} for {response.url}")
        self.logger.info(f"{tag} bad extra", broken=Unrenderable(secret))
        logging.getLogger("icon_example.stdlib").warning("%s mismatched %s %s", tag, secret)  # noqa: PLE1206 - on purpose
        if params.get("fail"):
            raise RuntimeError(f"{tag} failed while holding {secret} ({forms['basic']}) {secret.encode()}")
        pin = self.connection.pin
        return {"echo": f"{tag} {secret}", "encoded": [Opaque(secret), secret.encode(), {secret}, pin, float(pin)]}
