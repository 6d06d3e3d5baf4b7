"""The truth about jobs, in wgp's own Redis keys (never Celery's result store).

Keys, under a prefix ``P`` (config ``queue_options.prefix``, default ``wgp``)::

    P:job:ID          hash: the JobRecord fields, plus worker, cancel_requested, cancel_at,
                      model, member (its place in line), seq, task (the Celery task running it)
    P:jobs            sorted set: every job id by seq (the order jobs were added)
    P:state:STATE     set of job ids per state (counts, listing by state)
    P:pending:MODEL   sorted set of the waiting jobs of one model, in line order (see below)
    P:models          set of the models that ever had waiting jobs
    P:ended           sorted set: ended jobs by finish time (``recent``)
    P:lease:ID        string: the worker that runs job ID; expires unless renewed
    P:flag:NAME       string: queue-wide flags (``paused``, ``paused:WORKER``, ``stop:WORKER``)
    P:workers         hash: worker id -> JSON (host, pid, started, heartbeat, models)
    P:alive:WORKER    string that expires unless the worker renews it
    P:events          pub/sub channel: every event of every worker, as JSON

Every change of a job's state is one Lua script, so the state sets, the line and the lease
never disagree, and a worker acts on a job only while state, owner and lease say it is its
own.  A line member is ``INVERTED_PRIORITY(20 digits):SEQ(16 digits):ID``: every member has
score 0, so Redis orders them by these bytes, which is priority (higher first), then age,
exactly, for any 64-bit priority.

Keys are built inside the scripts from the prefix, so this needs one Redis server (or a
primary with replicas), not a Redis Cluster.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

from wgp_hookspecs import ENDED_STATES, PRIORITY_RANGE, WAITING_STATES, JobRecord, UserError

MAX_PRIORITY = PRIORITY_RANGE[1]
#: States whose jobs wait in line, and those of jobs that ended (the scripts spell them out too).
WAITING = WAITING_STATES
ENDED = ENDED_STATES

_PRELUDE = """
local P = ARGV[1]
local function jk(id) return P .. ':job:' .. id end
local function sk(state) return P .. ':state:' .. state end
local function pk(model) return P .. ':pending:' .. model end
local function lk(id) return P .. ':lease:' .. id end
local function waiting(s) return s == 'queued' or s == 'interrupted' end
local function ended(s) return s == 'finished' or s == 'failed' or s == 'cancelled' end
local function set_state(id, old, new)
  if old == new then return end
  if old then redis.call('SREM', sk(old), id) end
  redis.call('SADD', sk(new), id)
  redis.call('HSET', jk(id), 'state', new)
  local h = redis.call('HMGET', jk(id), 'model', 'member', 'finished')
  if waiting(new) and not waiting(old) then
    redis.call('ZADD', pk(h[1]), 0, h[2])
    redis.call('SADD', P .. ':models', h[1])
  elseif waiting(old) and not waiting(new) then
    redis.call('ZREM', pk(h[1]), h[2])
  end
  if ended(new) then
    redis.call('ZADD', P .. ':ended', tonumber(h[3]) or 0, id)
  elseif ended(old) then
    redis.call('ZREM', P .. ':ended', id)
  end
end
-- A worker may act on a job while the job is running, for it, and no one else holds the lease
-- (an expired lease that no reaper has taken yet is still its own).
local function owns(id, worker)
  local h = redis.call('HMGET', jk(id), 'state', 'worker')
  if h[1] ~= 'running' or h[2] ~= worker then return false end
  local l = redis.call('GET', lk(id))
  return (not l) or l == worker
end
"""

_SCRIPTS = {
    # id, job, priority, model, inverted priority, created
    "add": """
local id = ARGV[2]
if redis.call('EXISTS', jk(id)) == 1 then return 0 end
local seq = redis.call('INCR', P .. ':seq')
local member = ARGV[6] .. ':' .. string.format('%016d', seq) .. ':' .. id
redis.call('HSET', jk(id), 'id', id, 'job', ARGV[3], 'priority', ARGV[4], 'model', ARGV[5], 'member', member,
  'seq', seq, 'attempts', 0, 'created', ARGV[7], 'started', '', 'finished', '', 'progress', '{}', 'result', '{}',
  'error', '', 'worker', '', 'cancel_requested', 0, 'cancel_at', '', 'task', '')
redis.call('ZADD', P .. ':jobs', seq, id)
set_state(id, false, 'queued')
return 1
""",
    # worker, lease ms, now, preferred model ('' for none), task id, model...
    "claim": """
local worker, lease, now, prefer, task = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
for _ = 1, 16 do
  local best, bestkey, bestm = nil, nil, nil
  for i = 7, #ARGV do
    local head = redis.call('ZRANGE', pk(ARGV[i]), 0, 0)[1]
    if head then
      -- priority, then the preferred model, then age
      local key = string.sub(head, 1, 20) .. (ARGV[i] == prefer and '0' or '1') .. string.sub(head, 22)
      if not bestkey or key < bestkey then best, bestkey, bestm = head, key, ARGV[i] end
    end
  end
  if not best then return false end
  local id = string.sub(best, 39)
  local state = redis.call('HGET', jk(id), 'state')
  if waiting(state) then
    set_state(id, state, 'running')
    redis.call('HSET', jk(id), 'worker', worker, 'started', now, 'finished', '', 'progress', '{}', 'result', '{}',
      'error', '', 'cancel_requested', 0, 'cancel_at', '', 'task', task)
    redis.call('HINCRBY', jk(id), 'attempts', 1)
    redis.call('SET', lk(id), worker, 'PX', lease)
    return redis.call('HGETALL', jk(id))
  end
  redis.call('ZREM', pk(bestm), best)  -- a member whose job left the line by other means: drop it
end
return false
""",
    # id, worker, lease ms, progress JSON ('' keeps it): -1 not ours, else cancel_requested
    "progress": """
local id, worker = ARGV[2], ARGV[3]
if not owns(id, worker) then return -1 end
redis.call('SET', lk(id), worker, 'PX', ARGV[4])
if ARGV[5] ~= '' then redis.call('HSET', jk(id), 'progress', ARGV[5]) end
return tonumber(redis.call('HGET', jk(id), 'cancel_requested'))
""",
    # id, worker, new state, field, value, ...
    "complete": """
local id, worker = ARGV[2], ARGV[3]
if not owns(id, worker) then return 0 end
for i = 5, #ARGV, 2 do redis.call('HSET', jk(id), ARGV[i], ARGV[i + 1]) end
set_state(id, 'running', ARGV[4])
redis.call('DEL', lk(id))
return 1
""",
    # id, worker
    "release": """
local id, worker = ARGV[2], ARGV[3]
if not owns(id, worker) then return 0 end
local attempts = tonumber(redis.call('HGET', jk(id), 'attempts')) or 1
redis.call('HSET', jk(id), 'worker', '', 'started', '', 'progress', '{}', 'attempts', math.max(attempts - 1, 0), 'task', '')
set_state(id, 'running', 'queued')
redis.call('DEL', lk(id))
return 1
""",
    # id, now
    "cancel": """
local id = ARGV[2]
local state = redis.call('HGET', jk(id), 'state')
if not state then return {0, ''} end
if waiting(state) then
  redis.call('HSET', jk(id), 'finished', ARGV[3], 'error', 'cancelled before it ran')
  set_state(id, state, 'cancelled')
  return {1, 'cancelled'}
end
if state == 'running' then
  if redis.call('HGET', jk(id), 'cancel_requested') ~= '1' then
    redis.call('HSET', jk(id), 'cancel_requested', 1, 'cancel_at', ARGV[3])
  end
  return {1, 'cancelling'}
end
return {0, state}
""",
    # id
    "retry": """
local id = ARGV[2]
local state = redis.call('HGET', jk(id), 'state')
if not state then return {0, ''} end
if state == 'failed' or state == 'cancelled' or state == 'interrupted' then
  redis.call('HSET', jk(id), 'attempts', 0, 'worker', '', 'started', '', 'finished', '', 'progress', '{}',
    'result', '{}', 'error', '', 'cancel_requested', 0, 'cancel_at', '', 'task', '')
  set_state(id, state, 'queued')
  return {1, 'queued'}
end
return {0, state}
""",
    "clear": """
local n = 0
for _, state in ipairs({'queued', 'interrupted'}) do
  for _, id in ipairs(redis.call('SMEMBERS', sk(state))) do
    local h = redis.call('HMGET', jk(id), 'model', 'member')
    if h[1] then redis.call('ZREM', pk(h[1]), h[2]) end
    redis.call('DEL', jk(id))
    redis.call('ZREM', P .. ':jobs', id)
    n = n + 1
  end
  redis.call('DEL', sk(state))
end
return n
""",
    # id, field, value, ... (state last wins)
    "update": """
local id = ARGV[2]
local old = redis.call('HGET', jk(id), 'state')
if not old then return 0 end
local new = nil
for i = 3, #ARGV, 2 do
  if ARGV[i] == 'state' then new = ARGV[i + 1] else redis.call('HSET', jk(id), ARGV[i], ARGV[i + 1]) end
end
if new then
  set_state(id, old, new)
  if new ~= 'running' then redis.call('DEL', lk(id)) end
end
return 1
""",
    # id, reaper id, ms: take the lease of a running job whose lease ran out
    "fence": """
local id = ARGV[2]
if redis.call('HGET', jk(id), 'state') ~= 'running' then return false end
if redis.call('SET', lk(id), ARGV[3], 'NX', 'PX', ARGV[4]) then return redis.call('HGETALL', jk(id)) end
return false
""",
    # id, reaper id, new state, error, finished
    "settle": """
local id = ARGV[2]
if redis.call('GET', lk(id)) ~= ARGV[3] or redis.call('HGET', jk(id), 'state') ~= 'running' then return 0 end
redis.call('HSET', jk(id), 'error', ARGV[5], 'finished', ARGV[6], 'progress', '{}', 'task', '')
set_state(id, 'running', ARGV[4])
redis.call('DEL', lk(id))
return 1
""",
}


def line_position(priority: int) -> str:
    """The first part of a line member: sorts ascending as the priority descends."""
    return f"{MAX_PRIORITY - int(priority):020d}"


def _flat(items: Any) -> dict[str, str]:
    if isinstance(items, dict):
        return items
    return dict(zip(items[::2], items[1::2])) if items else {}


def _float(text: str | None) -> float | None:
    return float(text) if text not in (None, "") else None


def encode(value: Any) -> str:
    """A field value as stored: JSON for dicts and lists, '' for None, text otherwise."""
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def record_of(fields: Mapping[str, str]) -> JobRecord:
    return JobRecord(
        id=fields["id"],
        state=fields["state"],
        job=JobRecord.stored_object(fields.get("job")),
        priority=int(fields.get("priority") or 0),
        attempts=int(fields.get("attempts") or 0),
        created=float(fields.get("created") or 0.0),
        started=_float(fields.get("started")),
        finished=_float(fields.get("finished")),
        progress=JobRecord.stored_object(fields.get("progress")),
        result=JobRecord.stored_object(fields.get("result")),
        error=fields.get("error") or None,
    )


def row_of(fields: Mapping[str, str]) -> dict[str, Any]:
    """A :meth:`QueueBackend.rows` dict: the record, ``worker`` and ``cancel_requested``."""
    return dict(record_of(fields).to_dict(), worker=fields.get("worker") or None,
                cancel_requested=fields.get("cancel_requested") == "1")


class Store:
    """One connection pool to the Redis that holds wgp's keys, and the scripts."""

    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self.url = url
        self.prefix = prefix
        self.redis = redis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=5, socket_timeout=30,
                                          health_check_interval=30)
        try:
            self.redis.ping()
        except redis.exceptions.RedisError as exc:
            self.redis.close()
            raise UserError(f"cannot reach Redis at {_safe_url(url)} ({exc}); start redis-server, or set config "
                            "queue_options.url") from None
        self._scripts = {name: self.redis.register_script(_PRELUDE + body) for name, body in _SCRIPTS.items()}

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def run(self, script: str, *args: Any) -> Any:
        return self._scripts[script](args=[self.prefix, *(encode(a) for a in args)])

    # ------------------------------------------------------------------ jobs

    def add(self, job_id: str, job_json: str, priority: int, model: str, created: float) -> bool:
        return bool(self.run("add", job_id, job_json, int(priority), model, line_position(priority), created))

    def claim(self, worker: str, lease_ms: int, now: float, prefer: str | None, task: str,
              models: Sequence[str]) -> dict[str, str] | None:
        if not models:
            return None
        found = self.run("claim", worker, lease_ms, now, prefer or "", task, *models)
        return _flat(found) if found else None

    def fields(self, job_id: str) -> dict[str, str] | None:
        found = self.redis.hgetall(self.key("job", job_id))
        return found or None

    def many(self, ids: Sequence[str]) -> list[dict[str, str]]:
        pipe = self.redis.pipeline(transaction=False)
        for job_id in ids:
            pipe.hgetall(self.key("job", job_id))
        return [f for f in pipe.execute() if f]

    def ids(self, states: Sequence[str] | None) -> list[str]:
        if states is None:
            return list(self.redis.zrange(self.key("jobs"), 0, -1))
        if not states:
            return []
        return list(self.redis.sunion([self.key("state", s) for s in states]))

    def counts(self, states: Sequence[str]) -> list[int]:
        pipe = self.redis.pipeline(transaction=False)
        for state in states:
            pipe.scard(self.key("state", state))
        return [int(n) for n in pipe.execute()]

    def recent(self, limit: int) -> list[dict[str, str]]:
        return self.many(self.redis.zrevrange(self.key("ended"), 0, max(int(limit), 1) - 1))

    def pending_heads(self) -> dict[str, str]:
        """Model -> the first member of its line, for every model with waiting jobs."""
        models = sorted(self.redis.smembers(self.key("models")))
        pipe = self.redis.pipeline(transaction=False)
        for model in models:
            pipe.zrange(self.key("pending", model), 0, 0)
        return {m: head[0] for m, head in zip(models, pipe.execute()) if head}

    def waiting(self, model: str) -> int:
        return int(self.redis.zcard(self.key("pending", model)))

    def leases_missing(self, ids: Sequence[str]) -> list[str]:
        pipe = self.redis.pipeline(transaction=False)
        for job_id in ids:
            pipe.exists(self.key("lease", job_id))
        return [job_id for job_id, exists in zip(ids, pipe.execute()) if not exists]

    def close(self) -> None:
        self.redis.close()


def _safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        host = parts.hostname or ""
        netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return url
