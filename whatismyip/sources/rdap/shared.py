"""Registry answers kept in Redis for every worker and dyno: the registries
limit each caller, and every dyno asking anew would spend that allowance many
times. Redis down or slow, each worker does without."""

import time
from collections.abc import Hashable

import orjson

from ...infra.redis_store import RedisStore
from ..base import Answer, Found, SharedAnswers
from .parse import NO_OWNER

# Answers kept in Redis for every dyno, the oldest dropped first: about 600
# bytes each, so a few megabytes of a small plan's 25 MB, whoever asks.
SHARED_ANSWERS = 10_000
# What a worker keeps of an answer it found in Redis (which may be old).
SHARED_TTL = 3600
# Redis keys: the answers, and their index by age. Versioned with the fields.
KEY_PREFIX, INDEX_KEY = "owner2:", "owner2-index"
READ_ANSWERS = "return redis.call('MGET', unpack(KEYS))"
# Keeps an answer for ARGV[2] seconds, then drops the oldest past ARGV[3].
KEEP_ANSWER = """
local now = redis.call('TIME')
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('ZADD', KEYS[2], tonumber(now[1]) * 1e6 + tonumber(now[2]), KEYS[1])
local extra = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[3])
if extra > 0 then
  redis.call('DEL', unpack(redis.call('ZRANGE', KEYS[2], 0, extra - 1)))
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, extra - 1)
end
return extra
"""


class SharedCache(SharedAnswers):
    def __init__(self, store: RedisStore):
        self.store = store

    def get(self, keys: tuple[Hashable, ...]) -> tuple[Hashable, Answer] | None:
        """The first of `keys` Redis holds an answer for, and that answer."""
        names = [KEY_PREFIX + str(key) for key in keys]
        values = self.store.call(READ_ANSWERS, names, [], time.monotonic())
        for key, value in zip(keys, values or (), strict=False):
            try:
                facts = orjson.loads(value) if value is not None else None
            except orjson.JSONDecodeError:
                continue
            if isinstance(facts, dict) and facts.keys() == NO_OWNER.keys():
                return key, Answer(facts, ttl=SHARED_TTL)
        return None

    def put(self, key: Hashable, found: Found, ttl: float) -> None:
        self.store.call(
            KEEP_ANSWER,
            [KEY_PREFIX + str(key), INDEX_KEY],
            [orjson.dumps(found), int(ttl), SHARED_ANSWERS],
            time.monotonic(),
        )
