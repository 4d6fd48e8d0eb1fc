"""The rules of SPEC §9: how an instance call, and the merchant's answer to it, change an instance.

Plain Python, no I/O. `apply_instance_change` adds a deduplicated call to its instance's changes and
says whether it decides anything now (`APPLIED`) or is outweighed by newer calls or cut off by the
release (`STALE`); a debug call (`testFlag` "1") changes nothing (`TEST`). The merchant makes an
opened instance ready by giving its `appInfo` (`provide_app_info`), or the ready template does
(`provision_from_template`).
"""

from __future__ import annotations

from datetime import datetime

from schemas.instance_calls import AppInfo, InstanceChange
from workers.domain.instance_state import InstanceState, InstanceStatus, LoggedChange
from workers.domain.records import Outcome


class NotProvisionable(Exception):
    """The instance cannot take an appInfo now; `reason` says why (it is waiting, or released)."""

    def __init__(self, instance_id: str, status: InstanceStatus) -> None:
        reason = {
            InstanceStatus.WAITING: "its newInstance has not arrived yet",
            InstanceStatus.RELEASED: "it is released, which is final",
        }.get(status, str(status))
        super().__init__(f"instance {instance_id!r} cannot be provisioned: {reason}")
        self.status = status


def apply_instance_change(state: InstanceState, event_id: str, version: datetime, call: InstanceChange) -> Outcome:
    """Apply one (deduplicated) call of the instance `state` holds."""
    if call.debug:
        return Outcome.TEST
    if event_id in state.changes:  # a rebuild or a retry meeting a change it holds already
        return Outcome.STALE
    state.add(LoggedChange.of(event_id, version, call))
    return Outcome.APPLIED if event_id in state.facts.writers else Outcome.STALE


def provide_app_info(state: InstanceState, app_info: AppInfo, at: datetime) -> None:
    """The merchant's application says where the instance is: it is ready (frozen if the platform froze it).

    Given again, the new appInfo replaces the old one. NotProvisionable while the instance is waiting for
    its newInstance or once it is released.
    """
    if state.status in (InstanceStatus.WAITING, InstanceStatus.RELEASED):
        raise NotProvisionable(state.instance_id, state.status)
    state.set_app_info(app_info, at)


def provision_from_template(state: InstanceState, template: str, at: datetime) -> bool:
    """Make an opened, unreleased instance that has no appInfo ready with `template` as its frontEndUrl
    (`{instanceId}` replaced); False if there was nothing to do."""
    if state.app_info is not None or state.status is not InstanceStatus.PROVISIONING:
        return False
    state.set_app_info(AppInfo(frontEndUrl=template.replace("{instanceId}", state.instance_id)), at)
    return True
