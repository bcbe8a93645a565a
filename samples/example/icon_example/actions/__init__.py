from .leak_everywhere.action import LeakEverywhere  # noqa: F401
from .raise_error.action import RaiseError  # noqa: F401
from .say_goodbye.action import SayGoodbye  # noqa: F401
from .say_hello.action import SayHello  # noqa: F401
from .sleep.action import Sleep  # noqa: F401
