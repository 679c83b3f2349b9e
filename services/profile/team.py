"""A manager's team: the employees whose ``manager_id`` names them, kept exact in Redis.

``EmployeeStore`` is the profile service's store of employees: every write of an
employee (the RPCs, the HRIS import, SCIM, events) goes through its ``store``,
which also queues, in the same MULTI, a small script that moves the employee
between teams: ``employee:manager-of`` (hash employee -> manager, "" for none)
says which team they are in, ``employee:team:<manager>`` (zset, lexical) lists a
team. The script reads the old manager and writes the new one inside the
transaction, so the index is exact whatever path changed the manager, and
erasure removes the employee from it (``delete``).

``ListEmployees(manager_id=M)`` pages ``employee:team:M``. Who may ask is
``may_list_team`` (pure).
"""

from __future__ import annotations

from itm.managers import MANAGER_ROLE
from itm.runtime.auth import Identity
from itm.runtime.domain import EntityStore

# KEYS[1] the manager-of hash; ARGV[1] the employee, ARGV[2] their manager ("" = none), ARGV[3] "" (a write),
# "forget" (erased) or "absent" (only if not indexed yet: the start-up backfill), ARGV[4] the team key prefix
_MOVE = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[3] == 'absent' and old then return 0 end
local new = ARGV[2]
if old and old ~= new and old ~= '' then redis.call('ZREM', ARGV[4] .. old, ARGV[1]) end
if ARGV[3] == 'forget' then redis.call('HDEL', KEYS[1], ARGV[1]) return 0 end
if old ~= new then redis.call('HSET', KEYS[1], ARGV[1], new) end
if new ~= '' then redis.call('ZADD', ARGV[4] .. new, 0, ARGV[1]) end
return 1
"""


class EmployeeStore(EntityStore):
    """Employees (``employee:<id>``), with the team index moved along in every write (and the
    roles that moved each, ``moved_key``)."""

    @property
    def manager_of(self) -> str:
        return self.svc.settings.key("employee:manager-of")

    @property
    def team_prefix(self) -> str:
        return self.svc.settings.key("employee:team:")

    def team_key(self, manager_id: str) -> str:
        return self.team_prefix + manager_id

    def moved_key(self, employee_id: str) -> str:
        """The roles whose fill moved the employee (services/profile/moves.py: once each)."""
        return self.svc.settings.key(f"employee:{employee_id}:moved-by")

    def store(self, pipe, msg) -> None:
        super().store(pipe, msg)
        pipe.eval(_MOVE, 1, self.manager_of, msg.employee_id, msg.manager_id, "", self.team_prefix)

    def delete(self, pipe, employee_id: str) -> None:
        """Queue (inside MULTI) the removal of the employee and of their place in the team
        index (erasure). The team they led, if any, goes too: its key is named after them."""
        super().delete(pipe, employee_id)
        pipe.eval(_MOVE, 1, self.manager_of, employee_id, "", "forget", self.team_prefix)
        pipe.delete(self.team_key(employee_id), self.moved_key(employee_id))

    async def index_teams(self, batch: int = 500) -> int:
        """Put employees stored before the team index existed into it (idempotent, at
        start-up); returns how many were added."""
        ids = await self.all_ids()
        added = 0
        for i in range(0, len(ids), batch):
            chunk = ids[i:i + batch]
            known = await self.svc.redis.hmget(self.manager_of, chunk)
            missing = [e for e, m in zip(chunk, known) if m is None]
            for emp in await self.load_many(missing):
                # "absent": a write since the load indexed the employee already, and knew better
                added += await self.svc.redis.eval(_MOVE, 1, self.manager_of, emp.employee_id, emp.manager_id,
                                                   "absent", self.team_prefix)
        return added


def may_list_team(ident: Identity, manager_id: str) -> str:
    """Why ``ident`` may not list ``manager_id``'s team ("" when they may): HR admins and
    services anyone's, a manager (the manager role) their own."""
    if ident.privileged:
        return ""
    if ident.role == MANAGER_ROLE and ident.subject == manager_id:  # the one manager rule (itm/managers.py)
        return ""
    if ident.subject == manager_id:
        return f"{ident.subject} has no manager role; HR grants it (docs/authorization.md)"
    return f"{ident.role} {ident.subject} may list only their own team (manager_id = {ident.subject})"
