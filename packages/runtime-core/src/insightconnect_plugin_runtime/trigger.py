"""``Trigger``: a long-running step that emits events, optionally with a checkpoint (stateful).

Stateful triggers keep ``self.state`` in ``CACHE_DIR/<triggerId>.json``. Saving is atomic (write a
temporary file, then rename), so a full disk or a crash never leaves a truncated checkpoint behind:
the previous state stays in place and the error reaches the trigger.

Events of a stateful trigger posted over HTTP go through a durable outbox (``_outbox``): ``send``
returns only once the orchestrator acknowledged the event (or rejected it for good: a dead letter),
so a checkpoint saved after ``send`` never passes an event in flight, and events left unacknowledged
by a crash are resent on restart. Every checkpoint save opens a new emission generation in the
outbox, recorded before the file is replaced; event keys derive from it (see ``_outbox``).

``CACHE_DIR`` and ``FLAG_DIR`` are patch points: plugins' tests patch
``insightconnect_plugin_runtime.trigger.CACHE_DIR`` (or ``FLAG_DIR``) to a temporary directory. The
trigger reads them at use time; a value patched here wins over ``constants``, which is read otherwise
(so patching ``constants.CACHE_DIR`` or setting ``ICON_RUNTIME_CACHE_DIR`` keeps working too).
Checkpoint files are created 0600 (they may hold cursors and tokens).
"""

from __future__ import annotations

import json
import os
from typing import Any

from . import constants, settings
from .exceptions import PluginException
from .execution import TRIGGER
from .paths import safeguard_and_return_file_path
from .step import Step
from .util import retry_on_exception

#: Patch points (read at use time by :func:`cache_dir` / :func:`flag_dir`).
CACHE_DIR: str = constants.CACHE_DIR
FLAG_DIR: str = constants.FLAG_DIR
_AS_IMPORTED = {"CACHE_DIR": CACHE_DIR, "FLAG_DIR": FLAG_DIR}


def _patched_or_constant(name: str) -> str:
    here = globals()[name]
    return here if here != _AS_IMPORTED[name] else getattr(constants, name)


def cache_dir() -> str:
    """Where checkpoints and outboxes live: ``trigger.CACHE_DIR`` if patched, else ``constants.CACHE_DIR``."""
    return _patched_or_constant("CACHE_DIR")


def flag_dir() -> str:
    """Where the terminate flag is dropped: ``trigger.FLAG_DIR`` if patched, else ``constants.FLAG_DIR``."""
    return _patched_or_constant("FLAG_DIR")


class Trigger(Step):
    """Subclass and implement ``run(params)``; call ``self.send(event)`` for every event."""

    def __init__(self, name: str, description: str, input: Any, output: Any) -> None:
        super().__init__(name, description, input, output)
        self.meta: Any = {}
        self.url = ""
        self.webhook_url = ""
        self.dispatcher: Any = None
        self.log_stream: Any = None
        self.state: dict[str, Any] = {}
        self.state_file = ""
        self._masker: Any = None
        self._outbox: Any = None
        self._run_keys: Any = None
        self._checkpoint_hash = ""

    # --- events ---------------------------------------------------------------------------------

    def send(self, event: Any, idempotency_key: str | None = None) -> None:
        """Validate ``event`` against the output schema and hand it to the dispatcher.

        Raises ``jsonschema.ValidationError`` for an invalid event and
        :class:`~insightconnect_plugin_runtime.dispatcher.DispatchError` when delivery fails.
        """
        if self.output is not None:
            self.output.validate(event)
        log = self._take_log()
        msg = {
            "body": {"meta": self.meta, "output": event, "log": log},
            "type": TRIGGER.event_type,
            "version": "v1",
        }
        if self._masker is not None:
            msg = self._masker.mask_envelope(msg) if hasattr(self._masker, "mask_envelope") else self._masker.mask(msg)
        if self.dispatcher is None:
            raise PluginException(
                cause="The trigger has no dispatcher to send events to.",
                assistance="Start triggers through the runtime, which sets up the dispatcher.",
            )
        from .dispatcher import Http

        if not isinstance(self.dispatcher, Http):
            if idempotency_key is None:
                self.dispatcher.write(msg)
            else:
                self.dispatcher.write(msg, idempotency_key=idempotency_key)
            return
        from . import _outbox

        trigger_id = self._trigger_id()
        outbox = self._open_outbox() if trigger_id else None
        output = msg["body"]["output"]
        if idempotency_key is not None:
            key = _outbox.supplied_key(idempotency_key, trigger_id)
        elif outbox is not None:
            key = outbox.key_for(output)
        else:
            if getattr(self, "_run_keys", None) is None:  # subclasses may skip Trigger.__init__
                self._run_keys = _outbox.run_emissions(trigger_id)
            key = self._run_keys.key_for(output)
        if outbox is None:
            self.dispatcher.write(msg, idempotency_key=key)
            return
        outbox.send(self.dispatcher, key, msg)

    def _mask_text(self, text: str) -> str:
        masker = getattr(self, "_masker", None)
        return masker.mask_text(text) if hasattr(masker, "mask_text") else text

    def _open_outbox(self) -> Any:
        """The durable outbox of this stateful trigger (None when disabled); replays leftovers once."""
        outbox = getattr(self, "_outbox", None)
        if outbox is not None:
            return outbox
        from . import _outbox

        trigger_id = self._trigger_id()
        if not trigger_id or not _outbox.enabled():
            return None
        path = safeguard_and_return_file_path(cache_dir(), f"{trigger_id}.outbox.sqlite")
        outbox = self._outbox = _outbox.Outbox(path, self.logger, trigger_id, mask=self._mask_text)
        outbox.resume(getattr(self, "_checkpoint_hash", "") or _outbox.text_hash(""))
        outbox.replay(self.dispatcher)
        return outbox

    def _delivery_outbox(self) -> Any:
        """The outbox when events go over HTTP through one, else None."""
        from .dispatcher import Http

        return self._open_outbox() if isinstance(self.dispatcher, Http) else None

    def _start_outbox(self) -> None:
        """At trigger start: resend the events a previous run left unacknowledged, in order."""
        from .dispatcher import Http

        if isinstance(self.dispatcher, Http):
            self._open_outbox()

    def _take_log(self) -> str:
        stream = self.log_stream
        if stream is None:
            return ""
        if hasattr(stream, "take"):
            return stream.take()
        text = stream.getvalue()
        stream.truncate(0)
        stream.seek(0)
        return text

    # --- graceful stop ----------------------------------------------------------------------------

    @property
    def run_trigger(self) -> bool:
        """False once the orchestrator dropped the terminate flag; the state is saved first."""
        flag = os.path.join(flag_dir(), constants.TERMINATE_FLAG_NAME)
        if not os.path.exists(flag):
            return True
        self.logger.info("Terminate flag found: saving the trigger state and stopping.")
        self._save_state()
        try:
            os.remove(flag)
        except FileNotFoundError:
            pass
        return False

    # --- checkpoint -------------------------------------------------------------------------------

    def _trigger_id(self) -> str | None:
        meta = self.meta if isinstance(self.meta, dict) else {}
        trigger_id = meta.get("triggerId")
        if not trigger_id and self.connection is not None:
            workflow = getattr(getattr(self.connection, "meta", None), "workflow", None)
            trigger_id = getattr(workflow, "triggerId", None)
        return trigger_id or None

    def load_state(self) -> None:
        """Load the checkpoint for this trigger id, creating an empty one on first start."""
        try:
            trigger_id = self._trigger_id()
            if not trigger_id:
                self.logger.error("No trigger ID in the message meta: this trigger runs without saved state.")
                return
            path = safeguard_and_return_file_path(cache_dir(), f"{trigger_id}.json")
            if os.path.isfile(path):
                with open(path, encoding="utf-8") as handle:
                    text = handle.read()
                self.state = json.loads(text) if text.strip() else {}
                self.state_file = path
                self._checkpoint_hash = _text_hash(text)
            else:
                self._create_new_state_file(f"{trigger_id}.json")
                self.logger.warning(f"No saved state for trigger {trigger_id}: starting from an empty state.")
        except Exception as error:
            self.logger.error(f"Could not load the trigger state: {error}")
            raise

    def _create_new_state_file(self, trigger_file: str) -> None:
        directory = cache_dir()
        os.makedirs(directory, exist_ok=True)
        path = safeguard_and_return_file_path(directory, trigger_file)
        self.state = {}
        _atomic_write(path, "{}")
        self.state_file = path
        self._checkpoint_hash = _text_hash("{}")

    @retry_on_exception()
    def _save_state(self) -> None:
        """Write ``self.state`` atomically; the previous checkpoint survives any failure.

        With an outbox, the new emission generation is recorded first (the commit point), then the
        file is replaced; if writing fails the generation is withdrawn and the previous one goes on.
        """
        if not self.state_file:
            error = PluginException(
                preset=PluginException.Preset.BAD_REQUEST,
                data="This trigger has no state file (no trigger ID in the message), so state cannot be saved.",
            )
            self.logger.error(str(error))
            raise error
        text = json.dumps(self.state)
        digest = _text_hash(text)
        outbox = self._delivery_outbox()
        token = outbox.begin_checkpoint(digest) if outbox is not None else None
        _kill_point("before_checkpoint")
        try:
            _atomic_write(self.state_file, text)
        except BaseException:
            if token is not None:
                outbox.cancel_checkpoint(token)
            raise
        _kill_point("after_checkpoint")
        self._checkpoint_hash = digest

    def save_state(self) -> None:
        """Public name for ``_save_state``."""
        self._save_state()


def _text_hash(text: str) -> str:
    from ._outbox import text_hash

    return text_hash(text)


def _kill_point(point: str) -> None:
    if settings.text("ICON_RUNTIME_TEST_KILL_AT"):
        from ._outbox import kill_point

        kill_point(point)


def _atomic_write(path: str, text: str) -> None:
    """Replace ``path`` with ``text`` through a 0600 temporary file (``mkstemp``), fsynced then renamed."""
    import tempfile

    directory = os.path.dirname(path) or "."
    fd, temp = tempfile.mkstemp(prefix=".state-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
