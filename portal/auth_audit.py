"""Audit events for sign-ins and account changes, wherever they happen (pages, admin, shell).

Django's auth signals give sign-ins, failures and sign-outs; django-axes gives lockouts; model
signals on the user give creation, deactivation, password, privilege and role (group) changes,
so nothing that saves a user escapes them (queryset `update()` calls, which send no signals,
are not used on users by the portal).

Model signals carry no request. A view that changes users says who is acting with
`changes_made_by(request)` (the admin and the password page do); outside one (shell,
management commands) the change is recorded as made by "system".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, Group
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save

from portal import audit
from portal.clientaddr import client_address

MAX_USERNAME = 150


@dataclass(frozen=True)
class _Acting:
    user: Any
    client_ip: str | None
    user_agent: str


_acting: ContextVar[_Acting | None] = ContextVar("portal_audit_acting", default=None)


def request_origin(request: Any) -> dict[str, Any]:
    """The client address and user agent of a request, as `audit.record` takes them."""
    if request is None:
        return {"client_ip": None, "user_agent": None}
    return {
        "client_ip": client_address(request),
        "user_agent": request.META.get("HTTP_USER_AGENT", ""),
    }


@contextmanager
def changes_made_by(request: Any) -> Iterator[None]:
    """User changes saved inside are recorded as made by the request's user, from its address."""
    user = getattr(request, "user", None)
    token = _acting.set(
        _Acting(
            user=user if getattr(user, "is_authenticated", False) else None,
            **request_origin(request),
        )
    )
    try:
        yield
    finally:
        _acting.reset(token)


def _record_change(action: str, target: Any, details: dict[str, Any]) -> None:
    acting = _acting.get()
    if acting is None:
        audit.record(actor=None, action=action, target=target, details=details)
    else:
        audit.record(
            actor=acting.user,
            action=action,
            target=target,
            details=details,
            client_ip=acting.client_ip,
            user_agent=acting.user_agent,
        )


def _attempted_username(credentials: dict[str, Any] | None) -> str:
    username = (credentials or {}).get(get_user_model().USERNAME_FIELD) or ""
    return str(username)[:MAX_USERNAME]


# --- Sign-ins ------------------------------------------------------------------------------


def on_logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit.record(actor=user, action="auth.login", target=user, **request_origin(request))


def on_login_failed(
    sender: Any, credentials: dict[str, Any] | None = None, request: Any = None, **kwargs: Any
) -> None:
    audit.record(
        actor=AnonymousUser(),
        action="auth.login_failed",
        details={"username": _attempted_username(credentials)},
        **request_origin(request),
    )


def on_logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None and getattr(user, "is_authenticated", False):
        audit.record(actor=user, action="auth.logout", target=user, **request_origin(request))


def on_locked_out(
    sender: Any,
    request: Any = None,
    username: str | None = None,
    ip_address: str | None = None,
    **kwargs: Any,
) -> None:
    origin = request_origin(request)
    origin["client_ip"] = origin["client_ip"] or ip_address
    audit.record(
        actor=AnonymousUser(),
        action="auth.locked_out",
        details={"username": str(username or "")[:MAX_USERNAME]},
        **origin,
    )


# --- Account changes -----------------------------------------------------------------------

_WATCHED = ("is_active", "is_staff", "is_superuser", "password")


def before_user_saved(
    sender: Any, instance: Any, raw: bool = False, update_fields: Any = None, **kwargs: Any
) -> None:
    """Remember what the row held, to tell after saving what changed."""
    instance._audit_before = None
    if raw or instance.pk is None:
        return
    # A save of some fields only writes those: the others may differ in memory, not in the row.
    watched = [name for name in _WATCHED if update_fields is None or name in update_fields]
    if not watched:
        return
    instance._audit_before = sender._default_manager.filter(pk=instance.pk).values(*watched).first()
    # Django re-hashes a password under newer settings when it checks it: not a change.
    instance._audit_rehash = (
        update_fields is not None
        and set(update_fields) == {"password"}
        and getattr(instance, "_password", None) is None
    )


def after_user_saved(
    sender: Any, instance: Any, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    if raw:
        return
    if created:
        _record_change(
            "user.created",
            instance,
            {
                "username": instance.get_username(),
                "is_active": instance.is_active,
                "is_staff": instance.is_staff,
                "is_superuser": instance.is_superuser,
            },
        )
        return
    before = getattr(instance, "_audit_before", None)
    if not before:
        return
    if "is_active" in before and before["is_active"] != instance.is_active:
        _record_change(
            "user.activated" if instance.is_active else "user.deactivated",
            instance,
            {"username": instance.get_username()},
        )
    privileges = {
        name: {"from": before[name], "to": getattr(instance, name)}
        for name in ("is_staff", "is_superuser")
        if name in before and before[name] != getattr(instance, name)
    }
    if privileges:
        _record_change(
            "user.privileges_changed", instance, {"username": instance.get_username(), **privileges}
        )
    if (
        "password" in before
        and before["password"] != instance.password
        and not getattr(instance, "_audit_rehash", False)
    ):
        _record_change(
            "user.password_changed",
            instance,
            {
                "username": instance.get_username(),
                "usable": instance.has_usable_password(),
            },
        )


def after_user_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    _record_change("user.deleted", instance, {"username": instance.get_username()})


def roles_changing(
    sender: Any,
    instance: Any,
    action: str,
    reverse: bool,
    model: Any,
    pk_set: set[int] | None,
    **kwargs: Any,
) -> None:
    """Group membership added to or removed from, from either side (user.groups or
    group.user_set); one event per user whose roles changed."""
    if action == "pre_clear":
        # The cleared rows are gone by post_clear: note them now.
        instance._audit_cleared = set(
            (instance.user_set if reverse else instance.groups).values_list("pk", flat=True)
        )
        return
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    pks = (
        getattr(instance, "_audit_cleared", set()) if action == "post_clear" else set(pk_set or ())
    )
    if not pks:
        return
    change = "added" if action == "post_add" else "removed"
    user_model = get_user_model()
    if reverse:  # group.user_set.add(users...): one group, several users
        pairs = [(user, [instance.name]) for user in user_model.objects.filter(pk__in=pks)]
    else:
        names = sorted(Group.objects.filter(pk__in=pks).values_list("name", flat=True))
        pairs = [(instance, names)]
    for user, groups in pairs:
        _record_change(
            "user.roles_changed", user, {"username": user.get_username(), change: sorted(groups)}
        )


def connect() -> None:
    """Called once from the app config."""
    user_model = get_user_model()
    user_logged_in.connect(on_logged_in, dispatch_uid="portal.audit.logged_in")
    user_logged_out.connect(on_logged_out, dispatch_uid="portal.audit.logged_out")
    user_login_failed.connect(on_login_failed, dispatch_uid="portal.audit.login_failed")
    user_locked_out.connect(on_locked_out, dispatch_uid="portal.audit.locked_out")
    pre_save.connect(before_user_saved, sender=user_model, dispatch_uid="portal.audit.pre_save")
    post_save.connect(after_user_saved, sender=user_model, dispatch_uid="portal.audit.post_save")
    post_delete.connect(
        after_user_deleted, sender=user_model, dispatch_uid="portal.audit.post_delete"
    )
    m2m_changed.connect(
        roles_changing, sender=user_model.groups.through, dispatch_uid="portal.audit.roles"
    )
