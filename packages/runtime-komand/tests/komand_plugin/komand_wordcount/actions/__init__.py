from .count_words.action import CountWords
from .fetch_title.action import FetchTitle

__all__ = ["CountWords", "FetchTitle"]
