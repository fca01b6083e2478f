"""The inference gateway: ``POST /serve/<endpoint>/invocations``, a small
Starlette app served by uvicorn beside the portal (``bin/gateway``).

Per request, everything is in memory: the route and the key's grant from
short-TTL caches (``routing.py``), the rate limit (``limits.py``), the variant
by the route's weights, then one pooled HTTP call to the backend's upstream
(``aiohttp.ClientSession``, keep-alive: measured with ``bench/gateway.py``,
httpx spent half the gateway's CPU in its pool's per-request checks). Telemetry (``recorder.py``) and capture
(``capture.py``) are appended to in-memory buffers that background threads
write; the response never waits for them. A refused request (no key, a wrong,
revoked or another endpoint's key, over the rate) is never forwarded."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
import uuid
from dataclasses import dataclass, field

import aiohttp
from django.conf import settings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from apps.backends.base import BackendError

from . import payloads
from .capture import FORWARDED_PREFIX, Captured, CaptureWriter, sensitive_lookup
from .capture_store import open_store
from .limits import RedisWindows, TokenBuckets
from .recorder import Recorder
from .routing import Directory, pick_variant

log = logging.getLogger(__name__)

STICKY_HEADER = "x-atrium-sticky"
VARIANT_HEADER = "X-Atrium-Variant"
EVENT_HEADER = "X-Atrium-Event-Id"
JSON_TYPES = ("application/json", "")


@dataclass
class GatewayConfig:
    cache_seconds: float = 2.0
    flush_seconds: float = 2.0
    capture_root: str = "var/capture"  # a folder or an s3:// prefix
    capture_s3_endpoint_url: str | None = None
    capture_s3_region: str | None = None
    capture_sample: float = 1.0
    capture_max_rows: int = 100_000
    sensitive_columns: list[str] = field(default_factory=list)  # "column" (every endpoint) or "endpoint:column"
    upstream_timeout: float = 60.0
    max_body: int = 50 * 1024 * 1024
    max_connections: int = 512
    redis_url: str = ""

    @classmethod
    def from_settings(cls) -> GatewayConfig:
        return cls(
            cache_seconds=settings.GATEWAY_CACHE_SECONDS,
            flush_seconds=settings.GATEWAY_FLUSH_SECONDS,
            capture_root=str(settings.GATEWAY_CAPTURE_ROOT),
            capture_s3_endpoint_url=settings.GATEWAY_CAPTURE_S3_ENDPOINT_URL,
            capture_s3_region=settings.GATEWAY_CAPTURE_S3_REGION,
            capture_sample=settings.GATEWAY_CAPTURE_SAMPLE,
            capture_max_rows=settings.GATEWAY_CAPTURE_MAX_ROWS,
            sensitive_columns=list(settings.GATEWAY_SENSITIVE_COLUMNS),
            upstream_timeout=settings.GATEWAY_UPSTREAM_TIMEOUT,
            redis_url=settings.REDIS_URL,
        )


def _error(status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error_code": code, "message": message}, status_code=status, headers=headers)


class Gateway:
    def __init__(self, config: GatewayConfig):
        self.config = config
        self.directory = Directory(ttl=config.cache_seconds)
        self.limits = RedisWindows(config.redis_url) if config.redis_url else TokenBuckets()
        self.recorder = Recorder(flush_seconds=config.flush_seconds)
        self.capture = CaptureWriter(
            open_store(
                config.capture_root, endpoint_url=config.capture_s3_endpoint_url, region=config.capture_s3_region
            ),
            sample=config.capture_sample,
            max_rows=config.capture_max_rows,
            flush_seconds=min(1.0, config.flush_seconds),
            sensitive=sensitive_lookup(config.sensitive_columns),
        )
        self.client: aiohttp.ClientSession | None = None

    # --- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        self.client = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.config.upstream_timeout, connect=5.0),
            connector=aiohttp.TCPConnector(limit=self.config.max_connections, ttl_dns_cache=300),
            auto_decompress=False,  # the body goes back to the client as the model sent it
            skip_auto_headers=("User-Agent",),
        )
        self.recorder.start()
        self.capture.start()

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.close()
        if isinstance(self.limits, RedisWindows):
            await self.limits.close()
        # Off the event loop (the ORM refuses to run in it): everything accepted is written.
        await asyncio.to_thread(self.capture.close)
        await asyncio.to_thread(self.recorder.close)
        log.info(
            "Gateway stopped: %s rows captured (%s dropped, %s failed to write), %s requests recorded",
            self.capture.written,
            self.capture.dropped,
            self.capture.failed,
            self.recorder.recorded,
        )

    @contextlib.asynccontextmanager
    async def lifespan(self, app):
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    # --- requests -------------------------------------------------------------------

    def _count(self, route, variant: str, started: float, status: int, model_ms: float, size_in: int, size_out: int):
        now = time.time()
        self.recorder.add(
            endpoint_id=route.endpoint_id,
            variant=variant,
            at=now,
            status=status,
            latency_ms=(time.perf_counter() - started) * 1000.0,
            model_latency_ms=model_ms,
            bytes_in=size_in,
            bytes_out=size_out,
        )

    def _refuse(self, route, started: float, response: Response, size_in: int = 0) -> Response:
        self._count(route, "", started, response.status_code, 0.0, size_in, len(response.body))
        return response

    async def invocations(self, request: Request) -> Response:
        started = time.perf_counter()
        name = request.path_params["endpoint"]
        try:
            route = await self.directory.routes.get(name)
        except Exception:
            log.exception("Reading the route of %s failed", name)
            return _error(503, "TEMPORARILY_UNAVAILABLE", "The gateway cannot read its routes; try again.")
        if route is None:
            return _error(404, "ENDPOINT_NOT_FOUND", f"No endpoint {name}.")

        authorization = request.headers.get("authorization", "")
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return self._refuse(
                route,
                started,
                _error(
                    401,
                    "UNAUTHENTICATED",
                    "Send an API key: Authorization: Bearer <key>.",
                    {"WWW-Authenticate": "Bearer"},
                ),
            )
        try:
            grant = await self.directory.grants.get(hashlib.sha256(key.strip().encode()).hexdigest())
        except Exception:
            log.exception("Reading a key grant failed")
            return _error(503, "TEMPORARILY_UNAVAILABLE", "The gateway cannot check keys now; try again.")
        if grant is None or grant.revoked:
            why = "This API key was revoked." if grant else "This API key is not valid."
            return self._refuse(
                route,
                started,
                _error(401, "UNAUTHENTICATED", why, {"WWW-Authenticate": 'Bearer error="invalid_token"'}),
            )
        if grant.endpoint_id != route.endpoint_id:
            return self._refuse(route, started, _error(403, "PERMISSION_DENIED", f"This API key is not for {name}."))
        allowed, retry_after = await self.limits.take(grant.key_id, grant.rate_limit_per_minute)
        if not allowed:
            message = f"Over this key's limit of {grant.rate_limit_per_minute} requests per minute."
            return self._refuse(route, started, _error(429, "RATE_LIMITED", message, {"Retry-After": str(retry_after)}))

        body = await request.body()
        if len(body) > self.config.max_body:
            return self._refuse(route, started, _error(413, "TOO_LARGE", "The request body is too large."), len(body))
        content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type == payloads.CSV:
            try:
                body = payloads.csv_as_json(body, request.headers["content-type"])
            except payloads.BadPayload as exc:
                return self._refuse(route, started, _error(400, "BAD_REQUEST", str(exc)), len(body))
        elif content_type not in JSON_TYPES:
            message = f"Unsupported content type {content_type}: send {payloads.JSON} or {payloads.CSV}."
            return self._refuse(route, started, _error(415, "UNSUPPORTED_MEDIA_TYPE", message), len(body))
        if not body:
            return self._refuse(route, started, _error(400, "BAD_REQUEST", "The request body is empty."))

        variant = pick_variant(route, request.headers.get(STICKY_HEADER))
        try:
            upstream = await self.directory.upstream(route, variant)
        except BackendError as exc:
            return self._answer(route, variant or "", started, 503, _error(503, "UNAVAILABLE", exc.message), body)
        event_id = uuid.uuid4().hex
        headers = {"Content-Type": payloads.JSON, **upstream.headers}
        forwarded = body  # what the upstream gets; the capture keeps what the client sent
        if upstream.request_id_header:  # the cloud's capture then knows the request for the gateway's
            headers[upstream.request_id_header] = FORWARDED_PREFIX + event_id
        elif upstream.request_id_field:
            forwarded = payloads.with_request_id(body, upstream.request_id_field, FORWARDED_PREFIX + event_id)
        if upstream.sign is not None:
            headers.update(upstream.sign(forwarded, headers))
        sent = time.perf_counter()
        try:
            async with self.client.post(upstream.url, data=forwarded, headers=headers) as answer:
                content = await answer.read()
                status, answer_type = answer.status, answer.headers.get("content-type", payloads.JSON)
        except TimeoutError:
            timeout = _error(504, "TIMEOUT", f"{name} did not answer in time.")
            return self._answer(route, variant or "", started, 504, timeout, body, event_id=event_id)
        except aiohttp.ClientError as exc:
            self.directory.forget_upstream(route, variant)  # the server may have moved: ask the backend again
            message = f"{name} could not be reached: {type(exc).__name__}."
            unreachable = _error(502, "BAD_GATEWAY", message)
            return self._answer(route, variant or "", started, 502, unreachable, body, event_id=event_id)
        model_ms = (time.perf_counter() - sent) * 1000.0
        if status >= 400 and upstream.unwrap is not None and (own := upstream.unwrap(status, content)):
            status, content = own  # the model's own answer, not the cloud's wrapping of it
            answer_type = payloads.JSON
        response = Response(content, status_code=status, media_type=answer_type)
        return self._answer(route, variant or "", started, status, response, body, model_ms, event_id)

    def _answer(self, route, variant, started, status, response, body, model_ms=0.0, event_id=None) -> Response:
        event_id = event_id or uuid.uuid4().hex
        response.headers[EVENT_HEADER] = event_id
        if variant:
            response.headers[VARIANT_HEADER] = variant
        latency_ms = (time.perf_counter() - started) * 1000.0
        self.capture.offer(
            Captured(
                event_id,
                time.time(),
                route.name,
                variant,
                status,
                latency_ms,
                body,
                bytes(response.body),
                route.sensitive,
            )
        )
        self._count(route, variant, started, status, model_ms, len(body), len(response.body))
        return response


async def health(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    return JSONResponse(
        {
            "status": "ok",
            "captured": gateway.capture.written,
            "capture_buffered": len(gateway.capture.buffer),
            "capture_dropped": gateway.capture.dropped,
            "capture_failed": gateway.capture.failed,
            "requests_recorded": gateway.recorder.recorded,
        }
    )


def create_app(config: GatewayConfig | None = None) -> Starlette:
    gateway = Gateway(config or GatewayConfig.from_settings())
    app = Starlette(
        routes=[
            Route("/serve/{endpoint}/invocations", gateway.invocations, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
        ],
        lifespan=gateway.lifespan,
    )
    app.state.gateway = gateway
    return app
