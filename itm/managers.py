"""The one rule for manager actions (docs/authorization.md, "Managers"), pure.

Approving or rejecting a posting that needs approval (the owner is the
employee), releasing or refusing an employee's time, verifying an employee's
skill (source MANAGER), and everything a manager reads to do so (the manager
view of the profile, the team, the release queue and the applications waiting
in it, the time already released): a person may do it for an employee only
when they are

* that employee's **manager of record**: the ``manager_id`` of the employee's
  profile when the call arrives (not when the posting or the acceptance was
  made: a move or an HR change takes effect at once), **and**
* hold the **manager role** in their token.

HR admins and services act for the organisation and always may. Being the
manager of record without the role is not enough (the role is HR's grant, not a
fact of the org chart), and neither is the role without being the manager of
record. Every service asks ``may_act_as_manager`` (or ``is_acting_manager``
for views) and refuses with PERMISSION_DENIED and its answer.
"""

from __future__ import annotations

from itm.runtime.auth import Identity

MANAGER_ROLE = "manager"


def may_act_as_manager(ident: Identity, manager_of_record: str, action: str, employee_id: str,
                       disclose: bool = True) -> str:
    """"" when ``ident`` may ``action`` ``employee_id`` (e.g. "release the time of"), else
    why not, as the PERMISSION_DENIED message.

    ``disclose=False`` where the caller may not learn whether ``employee_id`` exists or who
    manages them (pass "" as ``manager_of_record`` for an unknown employee): a caller who is
    not the manager of record then gets the same words either way; only the manager of record
    hears that the role is missing."""
    if ident.privileged:
        return ""
    if not disclose and ident.subject != manager_of_record:
        return (f"only {employee_id}'s manager (with the manager role) or an HR admin may {action} {employee_id}, "
                f"not {ident.subject}")
    if not manager_of_record:
        return f"{employee_id} has no manager on record: only an HR admin may {action} {employee_id}"
    if ident.subject != manager_of_record:
        return f"only {employee_id}'s manager ({manager_of_record}) or HR may {action} {employee_id}, not {ident.subject}"
    if ident.role != MANAGER_ROLE:
        return (f"{ident.subject} is {employee_id}'s manager on record but has the {ident.role} role, not manager; "
                f"HR grants the manager role (docs/authorization.md)")
    return ""


def is_acting_manager(ident: Identity, manager_of_record: str) -> bool:
    """Whether ``ident`` gets what a manager sees of an employee whose manager of record is
    ``manager_of_record`` (the manager view, the release waiting for them): the same rule,
    HR admins and services aside (they see more)."""
    return bool(manager_of_record) and ident.subject == manager_of_record and ident.role == MANAGER_ROLE
