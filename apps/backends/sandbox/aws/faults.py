"""Part of the AWS STAND-IN (moto, not AWS): a WSGI middleware around moto's
app that injects the faults a real account gives, for tests and demos. It
answers in each service's own error shape (JSON protocols, S3's XML, the query
protocol's XML), so boto3 raises what it raises against AWS.

* ``POST /_sandbox/faults`` with ``{"throttle": N}`` answers the next N AWS
  calls with a ``ThrottlingException`` (HTTP 400; S3's ``SlowDown``, HTTP 503);
  ``AwsStandIn.throttle(N)`` does the same in-process.
* Any access key id starting with ``AKIADENIED`` is refused with
  ``AccessDeniedException`` (S3: ``AccessDenied``, HTTP 403).

moto's own ``/moto-api`` paths pass untouched.
"""

from __future__ import annotations

import json
import re
import threading

DENIED_KEY_PREFIX = "AKIADENIED"
FAULTS_PATH = "/_sandbox/faults"

_ACCESS_KEY = re.compile(r"Credential=([^/,\s]+)/")


class Faults:
    """What the middleware does to the next calls."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._throttle = 0

    def throttle(self, calls: int) -> None:
        with self._lock:
            self._throttle = max(0, int(calls))

    def take_throttle(self) -> bool:
        with self._lock:
            if self._throttle > 0:
                self._throttle -= 1
                return True
            return False


class FaultMiddleware:
    def __init__(self, app, faults: Faults):
        self.app = app
        self.faults = faults

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == FAULTS_PATH:
            return self._control(environ, start_response)
        if path.startswith("/moto-api"):
            return self.app(environ, start_response)
        match = _ACCESS_KEY.search(environ.get("HTTP_AUTHORIZATION", ""))
        if match and match.group(1).startswith(DENIED_KEY_PREFIX):
            json_style = _is_json(environ)
            code = "AccessDeniedException" if json_style else "AccessDenied"
            message = f"User: arn:aws:iam::123456789012:user/{match.group(1)} is not authorized to perform this action"
            return _error(start_response, environ, 400 if json_style else 403, code, message)
        if self.faults.take_throttle():
            if _is_s3(environ):  # S3 throttles with 503 SlowDown
                return _error(start_response, environ, 503, "SlowDown", "Please reduce your request rate.")
            code = "ThrottlingException" if _is_json(environ) else "Throttling"
            return _error(start_response, environ, 400, code, "Rate exceeded")
        return self.app(environ, start_response)

    def _control(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = json.loads(environ["wsgi.input"].read(length) or b"{}")
            if "throttle" in body:
                self.faults.throttle(body["throttle"])
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"throttle": self.faults._throttle}).encode()]


def _is_json(environ) -> bool:
    return bool(environ.get("HTTP_X_AMZ_TARGET")) or "json" in environ.get("CONTENT_TYPE", "")


def _is_s3(environ) -> bool:
    return "/s3/aws4_request" in environ.get("HTTP_AUTHORIZATION", "")


def _error(start_response, environ, status: int, code: str, message: str):
    reason = {400: "Bad Request", 403: "Forbidden", 503: "Slow Down"}[status]
    if _is_s3(environ):
        body = f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>sandbox</RequestId></Error>".encode()
        headers = [("Content-Type", "application/xml")]
    elif _is_json(environ) or environ.get("PATH_INFO", "").endswith("/invocations"):
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", code)]
    else:
        body = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{code}</Code><Message>{message}</Message></Error>"
            "<RequestId>sandbox</RequestId></ErrorResponse>"
        ).encode()
        headers = [("Content-Type", "text/xml")]
    start_response(f"{status} {reason}", [*headers, ("Content-Length", str(len(body)))])
    return [body]
