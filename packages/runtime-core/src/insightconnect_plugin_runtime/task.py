"""``Task``: a scheduled step that pages through data and carries state between runs."""

from .step import Step


class Task(Step):
    """Subclass and implement ``run(params, state, custom_config)``.

    ``run`` returns ``(output, state, has_more_pages, status_code, error_object)``.
    """
