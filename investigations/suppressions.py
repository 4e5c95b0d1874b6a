"""Suppression rules: who may create and disable them, with their audit events, and the rules a
run honours (with the snapshot the run keeps of them).

Views, the API and the run context all call these; none takes a request.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from analysis.addresses import parse_cidr
from investigations.models import Finding, Investigation, QueryRun, SuppressionRule
from investigations.services import RunRequestInvalid
from portal import audit
from portal.roles import Role, can_run_analyses, has_role

ANY_DETECTION = "*"


class SuppressionRuleInvalid(RunRequestInvalid):
    """A rule that cannot be saved; `errors` maps each bad field to what is wrong with it."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__(" ".join(errors.values()))


def detection_choices() -> list[tuple[str, str]]:
    """Every detection id of the catalogue with its title, after "* (every detection)"."""
    from analysis.detections import catalogue

    return [(ANY_DETECTION, "Every detection (*)")] + [
        (str(item["id"]), f"{item['title']} ({item['id']})") for item in catalogue()
    ]


def _known_detections() -> set[str]:
    from analysis.detections import all_detections

    return {detection.id for detection in all_detections()}


def normalise_cidr(value: str, *, label: str) -> str:
    """An address or CIDR as a rule stores it (a bare address becomes /32 or /128)."""
    value = (value or "").strip()
    if not value:
        return ""
    try:
        return str(parse_cidr(value))
    except ValueError:
        raise ValueError(
            f"{label} {value!r} is not an address or CIDR block (e.g. 203.0.113.7 or "
            "10.0.4.0/24; the bits after the prefix must be zero)."
        ) from None


@dataclass(frozen=True)
class RuleFields:
    """A rule's fields, checked and in their stored form."""

    name: str
    reason: str
    detection: str
    actor: str
    target: str
    expires_at: datetime | None


def check_rule_fields(
    *,
    name: str,
    reason: str,
    detection: str = ANY_DETECTION,
    actor: str = "",
    target: str = "",
    expires_at: datetime | None = None,
) -> RuleFields:
    """Every problem at once (SuppressionRuleInvalid), or the fields as they are stored."""
    errors: dict[str, str] = {}
    name, reason = (name or "").strip(), (reason or "").strip()
    if not name:
        errors["name"] = "Give the rule a name (e.g. “authorised scanner”)."
    elif len(name) > SuppressionRule._meta.get_field("name").max_length:  # type: ignore[operator]
        errors["name"] = "A rule's name is at most 100 characters."
    if not reason:
        errors["reason"] = "Say why these findings are expected: the reason is required."
    elif len(reason) > 500:
        errors["reason"] = "A reason is at most 500 characters."
    detection = (detection or "").strip() or ANY_DETECTION
    if detection != ANY_DETECTION and detection not in _known_detections():
        errors["detection"] = (
            f"Unknown detection {detection!r}: use an id from the detection catalogue "
            "(e.g. port-scan) or * for every detection."
        )
    cidrs = {}
    for field, label in (("actor", "Actor"), ("target", "Target")):
        try:
            cidrs[field] = normalise_cidr(actor if field == "actor" else target, label=label)
        except ValueError as exc:
            errors[field] = str(exc)
    if "actor" not in errors and "target" not in errors and not cidrs["actor"] + cidrs["target"]:
        errors["actor"] = (
            "Give an actor or a target address (or both): a rule for every address would "
            "hide a whole detection."
        )
    if expires_at is not None and expires_at <= timezone.now():
        errors["expires_at"] = "The expiry must be in the future (leave it empty for none)."
    if errors:
        raise SuppressionRuleInvalid(errors)
    return RuleFields(
        name=name,
        reason=reason,
        detection=detection,
        actor=cidrs["actor"],
        target=cidrs["target"],
        expires_at=expires_at,
    )


def can_manage_global_rules(user: Any) -> bool:
    return has_role(user, Role.ADMIN)


def can_manage_rules(user: Any, investigation: Investigation | None) -> bool:
    """Analysts who can change the investigation manage its rules; admins the global ones."""
    if investigation is None:
        return can_manage_global_rules(user)
    if not can_run_analyses(user):
        return False
    return Investigation.objects.writable_by(user).filter(pk=investigation.pk).exists()


def _check_can_manage(user: Any, investigation: Investigation | None) -> None:
    if not can_manage_rules(user, investigation):
        if investigation is None:
            raise PermissionDenied("Only admins manage global suppression rules.")
        raise PermissionDenied("You cannot change the suppression rules of this investigation.")


def create_rule(
    *,
    user: Any,
    investigation: Investigation | None,
    name: str,
    reason: str,
    detection: str = ANY_DETECTION,
    actor: str = "",
    target: str = "",
    expires_at: datetime | None = None,
    client_ip: str | None = None,
    api_token_id: int | None = None,
) -> SuppressionRule:
    """A rule later runs of the investigation (or, global, of every investigation) honour."""
    _check_can_manage(user, investigation)
    fields = check_rule_fields(
        name=name,
        reason=reason,
        detection=detection,
        actor=actor,
        target=target,
        expires_at=expires_at,
    )
    with transaction.atomic():
        audit.lock_ordered_writes()
        rule = SuppressionRule.objects.create(
            investigation=investigation,
            created_by=user,
            name=fields.name,
            reason=fields.reason,
            detection=fields.detection,
            actor=fields.actor,
            target=fields.target,
            expires_at=fields.expires_at,
        )
        if investigation is not None:
            Investigation.objects.filter(pk=investigation.pk).update(updated_at=timezone.now())
        audit.record(
            actor=user,
            action="suppression.created",
            target=rule,
            details={
                **_details(rule),
                "expires_at": fields.expires_at.isoformat() if fields.expires_at else None,
            },
            client_ip=client_ip,
            api_token_id=api_token_id,
        )
    return rule


def disable_rule(
    *,
    user: Any,
    rule: SuppressionRule,
    client_ip: str | None = None,
    api_token_id: int | None = None,
) -> SuppressionRule:
    """Runs from now on no longer honour the rule; it stays, so past runs still name it."""
    _check_can_manage(user, rule.investigation)
    with transaction.atomic():
        audit.lock_ordered_writes()
        locked = SuppressionRule.objects.select_for_update().get(pk=rule.pk)
        if locked.disabled_at is not None:
            raise RunRequestInvalid(f"{locked.label} is already disabled.")
        locked.disabled_at = timezone.now()
        locked.disabled_by = user
        locked.save(update_fields=["disabled_at", "disabled_by"])
        if locked.investigation_id is not None:
            Investigation.objects.filter(pk=locked.investigation_id).update(
                updated_at=timezone.now()
            )
        audit.record(
            actor=user,
            action="suppression.disabled",
            target=locked,
            details=_details(locked),
            client_ip=client_ip,
            api_token_id=api_token_id,
        )
    return locked


def _details(rule: SuppressionRule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "reason": rule.reason,
        "detection": rule.detection,
        "actor": rule.actor,
        "target": rule.target,
        "investigation": rule.investigation_id,
    }


def rules_for_run(run: QueryRun) -> list[SuppressionRule]:
    """The rules a run honours now: its investigation's and the global ones, neither disabled
    nor expired, oldest first (the first matching rule names a suppressed finding)."""
    return list(
        SuppressionRule.objects.for_investigation(run.investigation_id)
        .active()
        .select_related("created_by")
        .order_by("created_at", "id")
    )


def applied_rules(run: QueryRun) -> list[dict[str, Any]]:
    """The rules a run recorded as applied (its `data_read`), each with the findings it
    suppressed in that run: [{...snapshot, "count", "findings": [titles]}]; then any other
    reason the detections gave (rules passed in the run's own parameters), with `id` None."""
    rules = [dict(item) for item in (run.data_read or {}).get("suppression_rules") or []]
    summary = (
        run.results.filter(analysis="detections").values_list("summary", flat=True).first() or {}
    )
    by_label = {
        str(item.get("reason")): item
        for item in (summary.get("suppressed") or [])
        if isinstance(item, dict)
    }
    for rule in rules:
        hit = by_label.pop(str(rule.get("label")), {})
        rule["count"] = int(hit.get("count") or 0)
        rule["findings"] = list(hit.get("findings") or [])
    rules += [
        {"id": None, "label": reason, "count": int(hit.get("count") or 0),
         "findings": list(hit.get("findings") or [])}
        for reason, hit in by_label.items()
    ]  # fmt: skip
    return rules


def prefill_from_finding(finding: Finding) -> dict[str, str]:
    """A new rule's fields taken from a finding ("Suppress similar"): its detection, its actor
    as one address, and its target when it hit exactly one. The reason is the analyst's."""
    evidence = finding.evidence if isinstance(finding.evidence, dict) else {}
    detection = str(evidence.get("detection_id") or "")
    if detection not in _known_detections():
        detection = ANY_DETECTION
    initial = {"detection": detection, "actor": "", "target": "", "name": ""}
    peer = evidence.get("peer")
    if peer:
        with contextlib.suppress(ValueError):  # not an address: leave the actor to the analyst
            initial["actor"] = normalise_cidr(str(peer), label="Actor")
    targets = evidence.get("targets") or []
    count = evidence.get("target_count", len(targets) if isinstance(targets, list) else 0)
    if isinstance(targets, list) and len(targets) == 1 and count in (1, None):
        with contextlib.suppress(ValueError):
            initial["target"] = normalise_cidr(str(targets[0]), label="Target")
    return initial
