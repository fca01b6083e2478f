"""Rate limits per key: at most ``rate`` requests per minute.

``TokenBuckets`` (no Redis): a bucket per key in this gateway process, holding
up to a minute's worth of requests and refilled continuously, so the limit is
per gateway process (N processes let a key through at up to N times its
rate). ``RedisWindows`` (with ``REDIS_URL``): one counter per key and minute
shared by every gateway process (INCR + EXPIRE in one round trip), so the
limit holds across processes; a Redis that does not answer lets requests
through rather than failing them (logged).

Both answer ``(allowed, retry_after_seconds)``.
"""

from __future__ import annotations

import logging
import math
import time

log = logging.getLogger(__name__)


class TokenBuckets:
    def __init__(self, *, clock=time.monotonic, max_keys: int = 100_000):
        self.clock = clock
        self.max_keys = max_keys
        self.buckets: dict[str, tuple[float, float]] = {}  # key id -> (tokens, at)

    async def take(self, key_id: str, rate: int) -> tuple[bool, int]:
        now = self.clock()
        per_second = rate / 60.0
        tokens, at = self.buckets.get(key_id, (float(rate), now))
        tokens = min(float(rate), tokens + (now - at) * per_second)
        if tokens >= 1.0:
            if len(self.buckets) >= self.max_keys and key_id not in self.buckets:
                self.buckets.clear()  # bounded memory: forgetting buckets only lets requests through
            self.buckets[key_id] = (tokens - 1.0, now)
            return True, 0
        self.buckets[key_id] = (tokens, now)
        return False, max(1, math.ceil((1.0 - tokens) / per_second))


class RedisWindows:
    def __init__(self, url: str, *, prefix: str = "atrium:gateway:rate:"):
        import redis.asyncio as redis

        self.redis = redis.from_url(url)
        self.prefix = prefix

    async def take(self, key_id: str, rate: int) -> tuple[bool, int]:
        now = time.time()
        minute = int(now // 60)
        name = f"{self.prefix}{key_id}:{minute}"
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                count, _ = await pipe.incr(name).expire(name, 120).execute()
        except Exception:
            log.warning("Redis did not answer: rate limits are not applied to this request", exc_info=True)
            return True, 0
        if count <= rate:
            return True, 0
        return False, max(1, math.ceil((minute + 1) * 60 - now))

    async def close(self) -> None:
        await self.redis.aclose()
