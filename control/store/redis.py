"""The shared store: links and seats in Redis, for several nodes.

Same semantics as :class:`control.store.sqlite.SqliteStore`; every
read-modify-write is one Lua script, so it stays atomic however many nodes
race. Only hashes of tokens and tickets are stored. Keys (``P`` is the prefix,
``callsfu:`` by default)::

    P link:{token_hash}     hash   type, title, created_at, expires_at,
                                   max_participants[, revoked_at][, e2ee ("1")]
    P seat:{participant}    hash   token_hash, name, ticket_expires_at,
                                   ticket_hash (until redeemed), node (once redeemed)
    P ticket:{ticket_hash}  string participant id, until redeemed
    P pending:{token_hash}  zset   unused tickets of a link, scored by expiry
    P connected:{token_hash} set   participants in the call
    P node:{node_id}        set    participants connected through that node
    P host:{token_hash}     string "NODE_ID URL": the node hosting the call's
                                   media and its WebSocket base URL (expires
                                   unless renewed; a node whose heartbeat
                                   lapsed loses its calls to the next claim)
    P nodes                 set    node ids that have held seats
    P alive:{node_id}       string present while that node heart-beats: "1", or
                                   "draining" (it takes no new calls)
    P url:{node_id}         string that node's WebSocket base URL
    P claims:{node_id}      set    host keys that node has claimed (to let go of
                                   them when it drains)

Times are the ``now`` the caller passes, never Redis's clock. Unused tickets
and their pending sets also carry a Redis TTL (their lifetime plus a minute),
only so that abandoned ones do not pile up.

Several nodes share one Redis, so a node starting must not forget seats held
through the others: :meth:`RedisStore.clear_seats` drops expired unused
tickets and the seats *connected through this node* only. Each node
heart-beats (:meth:`RedisStore.heartbeat`); the seats of a node whose
heartbeat lapsed (it crashed and did not come back) are released by the
next node to heart-beat. The server gives each node a stable id (host name
and port, or ``--node-id``), so a node restarting after a crash also frees
the seats it held at once.
The scripts touch keys they compute, so this targets one Redis server (or a
primary with replicas), not Redis Cluster.
"""

from __future__ import annotations

import math
import os
import secrets
import socket
import time
from typing import Any, AsyncIterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis.asyncio as aioredis

from control.store.base import CallType, LinkRecord, SeatRecord

TTL_GRACE = 60  # seconds an unused ticket's keys outlive it in Redis

# Shared by the scripts: ARGV[1] is always the key prefix.
_PRELUDE = """
local P = ARGV[1]
local function drop_expired(pending, now)
  local gone = redis.call('ZRANGEBYSCORE', pending, '-inf', now)
  for _, pid in ipairs(gone) do
    local seat = P .. 'seat:' .. pid
    local t = redis.call('HGET', seat, 'ticket_hash')
    if t then redis.call('DEL', P .. 'ticket:' .. t) end
    redis.call('DEL', seat)
  end
  if #gone > 0 then redis.call('ZREMRANGEBYSCORE', pending, '-inf', now) end
end
local function release(pid)
  local seat = P .. 'seat:' .. pid
  local f = redis.call('HMGET', seat, 'token_hash', 'ticket_hash', 'node')
  if not f[1] then return 0 end
  redis.call('ZREM', P .. 'pending:' .. f[1], pid)
  redis.call('SREM', P .. 'connected:' .. f[1], pid)
  if f[2] then redis.call('DEL', P .. 'ticket:' .. f[2]) end
  if f[3] then redis.call('SREM', P .. 'node:' .. f[3], pid) end
  redis.call('DEL', seat)
  return 1
end
"""

# KEYS: link. ARGV: prefix, field, value, ... -> 1, or 0 if it exists.
_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return 1
"""

# KEYS: link. ARGV: prefix, now. Keeps the first revocation time.
_REVOKE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSETNX', KEYS[1], 'revoked_at', ARGV[2])
end
return 1
"""

# KEYS: pending, connected, seat, ticket.
# ARGV: prefix, now, max, participant, token_hash, name, ticket_hash,
#       ticket_expires_at, ttl -> 1 reserved, 0 full, -1 duplicate id or ticket.
_RESERVE = """
drop_expired(KEYS[1], ARGV[2])
if redis.call('EXISTS', KEYS[3]) == 1 or redis.call('EXISTS', KEYS[4]) == 1 then
  return -1
end
local held = redis.call('ZCARD', KEYS[1]) + redis.call('SCARD', KEYS[2])
if held >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[8], ARGV[4])
redis.call('HSET', KEYS[3], 'token_hash', ARGV[5], 'name', ARGV[6],
           'ticket_hash', ARGV[7], 'ticket_expires_at', ARGV[8])
redis.call('EXPIRE', KEYS[3], ARGV[9])
redis.call('SET', KEYS[4], ARGV[4], 'EX', ARGV[9])
if redis.call('TTL', KEYS[1]) < tonumber(ARGV[9]) then
  redis.call('EXPIRE', KEYS[1], ARGV[9])
end
return 1
"""

# KEYS: ticket. ARGV: prefix, now, node -> {participant, token_hash, name} or nil.
# A ticket counts only while it is in its link's pending set: one dropped as
# expired (by any node, whatever its clock) can no longer be redeemed.
_REDEEM = """
local pid = redis.call('GET', KEYS[1])
if not pid then return nil end
local seat = P .. 'seat:' .. pid
local f = redis.call('HMGET', seat, 'token_hash', 'name')
if not f[1] then return nil end
local pending = P .. 'pending:' .. f[1]
local expires = redis.call('ZSCORE', pending, pid)
if not expires or tonumber(expires) <= tonumber(ARGV[2]) then return nil end
redis.call('ZREM', pending, pid)
redis.call('DEL', KEYS[1])
redis.call('SADD', P .. 'connected:' .. f[1], pid)
redis.call('SADD', P .. 'node:' .. ARGV[3], pid)
redis.call('SADD', P .. 'nodes', ARGV[3])
redis.call('HDEL', seat, 'ticket_hash')
redis.call('HSET', seat, 'node', ARGV[3])
redis.call('PERSIST', seat)
return {pid, f[1], f[2]}
"""

# ARGV: prefix, participant.
_RELEASE = "return release(ARGV[2])"

# KEYS: node. ARGV: prefix -> how many seats were released.
_CLEAR_NODE = """
local n = 0
for _, pid in ipairs(redis.call('SMEMBERS', KEYS[1])) do n = n + release(pid) end
redis.call('DEL', KEYS[1])
return n
"""

# ARGV: prefix, node, ttl_ms, state ('1' or 'draining'), url -> seats released
# from nodes no longer alive.
_HEARTBEAT = """
redis.call('SET', P .. 'alive:' .. ARGV[2], ARGV[4], 'PX', ARGV[3])
if ARGV[5] ~= '' then redis.call('SET', P .. 'url:' .. ARGV[2], ARGV[5]) end
redis.call('SADD', P .. 'nodes', ARGV[2])
local n = 0
for _, node in ipairs(redis.call('SMEMBERS', P .. 'nodes')) do
  if redis.call('EXISTS', P .. 'alive:' .. node) == 0 then
    local held = P .. 'node:' .. node
    for _, pid in ipairs(redis.call('SMEMBERS', held)) do n = n + release(pid) end
    redis.call('DEL', held)
    redis.call('SREM', P .. 'nodes', node)
  end
end
return n
"""

# KEYS: pending. ARGV: prefix, now.
_DROP_EXPIRED = "drop_expired(KEYS[1], ARGV[2]) return 1"

# KEYS: host. ARGV: prefix, node id, url, ttl_ms -> the URL of the node hosting the call.
# A holder that stopped heart-beating (its alive key lapsed) is taken over; a
# node draining hands a call it does not hold yet to a live node that is not.
_CLAIM_CALL = """
local holder = redis.call('GET', KEYS[1])
if holder then
  local sep = string.find(holder, ' ', 1, true)
  local node = sep and string.sub(holder, 1, sep - 1) or ''
  if node == ARGV[2] then
    redis.call('PEXPIRE', KEYS[1], ARGV[4])
    return string.sub(holder, sep + 1)
  end
  if node ~= '' and redis.call('EXISTS', P .. 'alive:' .. node) == 1 then
    return string.sub(holder, sep + 1)
  end
end
local chosen, url = ARGV[2], ARGV[3]
if redis.call('GET', P .. 'alive:' .. ARGV[2]) == 'draining' then
  for _, other in ipairs(redis.call('SMEMBERS', P .. 'nodes')) do
    if redis.call('GET', P .. 'alive:' .. other) == '1' then
      local other_url = redis.call('GET', P .. 'url:' .. other)
      if other_url then chosen, url = other, other_url break end
    end
  end
end
redis.call('SET', KEYS[1], chosen .. ' ' .. url, 'PX', ARGV[4])
return url
"""

# ARGV: prefix, node -> how many call claims of that node were dropped.
_RELEASE_CLAIMS = """
local n = 0
for _, key in ipairs(redis.call('SMEMBERS', P .. 'claims:' .. ARGV[2])) do
  local holder = redis.call('GET', key)
  if holder and string.sub(holder, 1, #ARGV[2] + 1) == ARGV[2] .. ' ' then
    redis.call('DEL', key)
    n = n + 1
  end
end
redis.call('DEL', P .. 'claims:' .. ARGV[2])
return n
"""


def _num(value: float) -> str:
    return repr(float(value))


class RedisStore:
    def __init__(
        self, client: aioredis.Redis, *, node_id: str | None = None, prefix: str = "callsfu:"
    ) -> None:
        """``client`` must decode responses (``decode_responses=True``)."""
        self.redis = client
        self.node_id = node_id or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"  # the server passes a stable one
        self.prefix = prefix
        script = client.register_script
        self._create = script(_CREATE)
        self._revoke = script(_REVOKE)
        self._reserve = script(_PRELUDE + _RESERVE)
        self._redeem = script(_PRELUDE + _REDEEM)
        self._release = script(_PRELUDE + _RELEASE)
        self._clear_node = script(_PRELUDE + _CLEAR_NODE)
        self._drop_expired = script(_PRELUDE + _DROP_EXPIRED)
        self._claim_call = script(_PRELUDE + _CLAIM_CALL)
        self._release_claims = script(_PRELUDE + _RELEASE_CLAIMS)
        self.draining = False  # heart-beats as draining: new calls go to other nodes
        self.url = ""  # this node's WebSocket base URL, for calls other nodes hand it
        self._heartbeat = script(_PRELUDE + _HEARTBEAT)

    @classmethod
    def from_url(cls, url: str, node_id: str | None = None, default_node_id: str | None = None) -> RedisStore:
        """``redis://host:port/db``. This node's id: ``node_id`` (``--node-id``),
        else ``?node_id=NAME`` in the URL, else ``default_node_id``."""
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        named = [v for k, v in query if k == "node_id" and v]
        rest = urlencode([(k, v) for k, v in query if k != "node_id"])
        client = aioredis.from_url(
            urlunsplit(parts._replace(query=rest)), decode_responses=True, socket_connect_timeout=2.0
        )
        return cls(client, node_id=node_id or (named[-1] if named else None) or default_node_id)

    def _key(self, kind: str, ident: str) -> str:
        return f"{self.prefix}{kind}:{ident}"

    async def create_link(self, link: LinkRecord) -> None:
        fields = [
            "type", link.type,
            "title", link.title,
            "created_at", _num(link.created_at),
            "expires_at", _num(link.expires_at),
            "max_participants", str(link.max_participants),
        ]  # fmt: skip
        if link.revoked_at is not None:
            fields += ["revoked_at", _num(link.revoked_at)]
        if link.e2ee:
            fields += ["e2ee", "1"]
        created = await self._create(keys=[self._key("link", link.token_hash)], args=[self.prefix, *fields])
        if not created:
            raise ValueError(f"a link with token hash {link.token_hash} exists already")

    async def get_link(self, token_hash: str) -> LinkRecord | None:
        row: dict[str, str] = await self.redis.hgetall(self._key("link", token_hash))  # type: ignore[misc]
        if not row:
            return None
        call_type: CallType = "audio" if row["type"] == "audio" else "video"
        revoked = row.get("revoked_at")
        return LinkRecord(
            token_hash=token_hash,
            type=call_type,
            title=row["title"],
            created_at=float(row["created_at"]),
            expires_at=float(row["expires_at"]),
            max_participants=int(row["max_participants"]),
            revoked_at=None if revoked is None else float(revoked),
            e2ee=row.get("e2ee") == "1",
        )

    async def revoke_link(self, token_hash: str, now: float) -> None:
        await self._revoke(keys=[self._key("link", token_hash)], args=[self.prefix, _num(now)])

    async def reserve_seat(
        self,
        token_hash: str,
        participant_id: str,
        name: str,
        ticket_hash: str,
        ticket_expires_at: float,
        now: float,
        max_participants: int,
    ) -> bool:
        ttl = max(1, math.ceil(ticket_expires_at - now)) + TTL_GRACE
        result: Any = await self._reserve(
            keys=[
                self._key("pending", token_hash),
                self._key("connected", token_hash),
                self._key("seat", participant_id),
                self._key("ticket", ticket_hash),
            ],
            args=[
                self.prefix, _num(now), str(max_participants), participant_id, token_hash,
                name, ticket_hash, _num(ticket_expires_at), str(ttl),
            ],  # fmt: skip
        )
        if int(result) < 0:
            raise ValueError("participant id or ticket hash already in use")
        return int(result) == 1

    async def redeem_ticket(self, ticket_hash: str, now: float) -> SeatRecord | None:
        row: Any = await self._redeem(
            keys=[self._key("ticket", ticket_hash)], args=[self.prefix, _num(now), self.node_id]
        )
        return None if row is None else SeatRecord(str(row[0]), str(row[1]), str(row[2]))

    async def release_seat(self, participant_id: str) -> None:
        await self._release(keys=[self._key("seat", participant_id)], args=[self.prefix, participant_id])

    async def count_connected(self, token_hash: str) -> int:
        n: int = await self.redis.scard(self._key("connected", token_hash))  # type: ignore[misc]
        return int(n)

    async def clear_seats(self) -> None:
        """Release the seats connected through this node and drop unused
        tickets that expired (by this machine's clock); seats held through
        other nodes, and their live tickets, stay."""
        await self._clear_node(keys=[self._key("node", self.node_id)], args=[self.prefix])
        now = _num(time.time())
        async for key in self.redis.scan_iter(match=self._key("pending", "*"), count=500):
            await self._drop_expired(keys=[key], args=[self.prefix, now])

    async def claim_call(self, token_hash: str, node: str, ttl: float) -> str:
        """A call's media lives on one node: the first to claim it, for ``ttl``
        seconds, renewed by that node while the call goes on."""
        key = self._key("host", token_hash)
        holder: Any = await self._claim_call(keys=[key], args=[self.prefix, self.node_id, node, str(int(ttl * 1000))])
        if str(holder) == node:
            await self.redis.sadd(self.prefix + "claims:" + self.node_id, key)  # type: ignore[misc]
        return str(holder)

    async def release_claims(self) -> int:
        """Let go of every call this node hosts (it drains): their next joins
        are placed on another live node."""
        dropped: Any = await self._release_claims(args=[self.prefix, self.node_id])
        return int(dropped)

    async def heartbeat(self, ttl: float) -> int:
        state = "draining" if self.draining else "1"
        released: Any = await self._heartbeat(args=[self.prefix, self.node_id, str(int(ttl * 1000)), state, self.url])
        return int(released)

    async def announce_revoked(self, token_hash: str) -> None:
        await self.redis.publish(self.prefix + "revoked", token_hash)

    async def revocations(self) -> AsyncIterator[str]:
        """Pub/sub: every node ends its part of a call revoked through any node."""
        pubsub = self.redis.pubsub()
        await pubsub.subscribe(self.prefix + "revoked")
        try:
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    yield str(message["data"])
        finally:
            await pubsub.aclose()

    async def close(self) -> None:
        await self.redis.aclose()
