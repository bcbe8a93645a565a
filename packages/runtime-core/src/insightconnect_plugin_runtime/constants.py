"""Container paths the orchestrator relies on.

``CACHE_DIR`` holds stateful triggers' checkpoints (a volume that survives restarts) and ``FLAG_DIR``
the ``terminate_trigger.flag`` the orchestrator drops to stop triggers gracefully. Both can be moved with
``ICON_RUNTIME_CACHE_DIR`` / ``ICON_RUNTIME_FLAG_DIR`` (tests, local runs); code reads them from this
module at use time so that patching the attributes keeps working.
"""

from .settings import text

CACHE_DIR: str = text("ICON_RUNTIME_CACHE_DIR", "/workspace/cache/")
FLAG_DIR: str = text("ICON_RUNTIME_FLAG_DIR", "/workspace/tmp/")
TERMINATE_FLAG_NAME = "terminate_trigger.flag"
