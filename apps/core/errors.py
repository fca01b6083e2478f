class InvalidInput(Exception):
    """Bad input, with errors per field (nested dicts allowed, lists of
    messages at the leaves). The API answers 400 with ``errors``; forms put
    each message beside its field."""

    def __init__(self, errors: dict):
        super().__init__(str(errors))
        self.errors = errors

    @classmethod
    def one(cls, field: str, message: str) -> "InvalidInput":
        return cls({field: [message]})
