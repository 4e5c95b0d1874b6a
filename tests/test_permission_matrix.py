"""Who may do what: every page and API endpoint by every kind of caller, in one table.

The routes come from the URLconf, so a new URL without a row here fails
`test_every_route_has_a_row`. Each cell is one test: it asserts the status an actor gets and, for
writes, that the change happened when allowed and did not happen when refused.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse

from tests.conftest import EXAMPLE_PUBLIC_ADDRESS, api_token, client_for
from tests.factories import PASSWORD
from tests.flowlogs import sample_upload

pytestmark = pytest.mark.django_db

# ------------------------------------------------------------------------------------- actors

OWNER, MEMBER, OUTSIDER, MANAGER, ADMIN = "owner", "member", "outsider", "manager", "admin"
ANON = "anonymous"
SESSION_ACTORS = (OWNER, MEMBER, OUTSIDER, MANAGER, ADMIN)
SCOPES = (
    "read:investigations",
    "read:findings",
    "write:runs",
    "write:investigations",
    "read:audit",
)
# API tokens belong to the owner analyst (one per scope), plus a manager's audit token.
OWNER_TOKENS = tuple(f"token[{scope}]" for scope in SCOPES)
MANAGER_AUDIT_TOKEN = "manager-token[read:audit]"
# Pages never accept bearer tokens: one token holding every scope stands for all of them.
ALL_SCOPES_TOKEN = "token[all scopes]"

PAGE_ACTORS = (*SESSION_ACTORS, ANON, ALL_SCOPES_TOKEN)
API_ACTORS = (*SESSION_ACTORS, ANON, *OWNER_TOKENS, MANAGER_AUDIT_TOKEN)

# ----------------------------------------------------------------------------------- outcomes

OK = "allowed"  # the row's `ok` status codes, and the write took effect
HIDDEN = "hidden"  # 200, but the world's object is not in the listing
FORBIDDEN = "403"
NOT_FOUND = "404"
UNAUTHORIZED = "401"
INVALID = "400"  # the API's "invalid pk" for an investigation the caller cannot see
LOGIN = "login redirect"
ADMIN_LOGIN = "admin login redirect"  # Django admin's own answer to a non-staff user

ANY_TOKEN = "*"  # the view has no scope check: a token acts as its user
NO_TOKEN = None  # no scope grants this method


# ------------------------------------------------------------------------------------- world


@dataclass
class World:
    users: dict[str, Any]
    investigation: Any
    run: Any
    finding: Any
    audit_event: Any
    webhook: Any
    revocable_token: Any
    account: Any
    reference_table: Any
    keys: dict[str, str] = field(default_factory=dict)
    sessions: dict[str, str] = field(default_factory=dict)

    def client(self, actor: str) -> Client:
        if actor in self.users:
            # Each user logged in once as the world was built (a login is a session row, an
            # audit event and a signal: 26 ms, for 980 cells); a cell's client carries the
            # cookie, and whatever the cell does to its session is rolled back with the cell.
            client = Client()
            client.cookies[settings.SESSION_COOKIE_NAME] = self.sessions[actor]
            return client
        if actor == ANON:
            return Client()
        return Client(HTTP_AUTHORIZATION=f"Bearer {self.key(actor)}")

    def key(self, actor: str) -> str:
        """Tokens are made as integrations make them: with the management command."""
        if actor not in self.keys:
            if actor == MANAGER_AUDIT_TOKEN:
                user, scopes = self.users[MANAGER], "read:audit"
            elif actor == ALL_SCOPES_TOKEN:
                user, scopes = self.users[OWNER], ",".join(SCOPES)
            else:
                user, scopes = self.users[OWNER], actor.removeprefix("token[").removesuffix("]")
            self.keys[actor] = api_token(user, scopes, f"matrix-{len(self.keys)}")
        return self.keys[actor]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """Cells that log in or change a password: PBKDF2 would spend most of their time hashing."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="module")
def _world_once(django_db_setup: Any, django_db_blocker: Any) -> Iterator[World]:
    """The world, built once per test process inside a transaction that is rolled back when
    the module's cells are done. Each cell runs in a savepoint within it (pytest-django's `db`
    nests its atomic block, as Django's TestCase does over setUpTestData), so every cell sees
    the world exactly as built and nothing a cell changes reaches the next."""
    from django.db import transaction
    from django.test import override_settings

    from portal import outbound
    from tests.factories import InvestigationFactory, UserFactory

    md5 = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=md5):
        outer = transaction.atomic()
        outer.__enter__()
        try:
            analyst = UserFactory(username="alice", role="analyst")
            teammate = UserFactory(username="bob", role="analyst")
            outsider = UserFactory(username="mallory", role="analyst")
            manager = UserFactory(username="maggie", role="manager")
            admin_user = UserFactory(username="root", role="admin")
            investigation = InvestigationFactory(owner=analyst, title="Web tier brute force")
            investigation.members.add(teammate)
            with pytest.MonkeyPatch.context() as patch:  # as `_loopback_only` does for cells
                patch.setattr(outbound, "resolve", lambda host, port: [EXAMPLE_PUBLIC_ADDRESS])
                built = _build_world(
                    analyst, teammate, outsider, manager, admin_user, investigation
                )
            for actor in (*OWNER_TOKENS, MANAGER_AUDIT_TOKEN, ALL_SCOPES_TOKEN):
                built.key(actor)  # every token made now: one made in a cell is rolled back
            for actor, user in built.users.items():
                cookie = client_for(user).cookies[settings.SESSION_COOKIE_NAME]
                built.sessions[actor] = cookie.value
            yield built
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture
def world(_world_once: World, db: Any) -> World:
    """The world for one cell: its own copy of the objects, so a cell that reloads or changes
    one in memory leaves the next cell's untouched."""
    return copy.deepcopy(_world_once)


def _build_world(
    analyst: Any, teammate: Any, outsider: Any, manager: Any, admin_user: Any, investigation: Any
) -> World:
    from accounts.models import AwsAccount
    from investigations.models import Finding, QueryRun, ResultRow, RunResult
    from investigations.reference import upload_reference_version
    from portal import audit
    from portal.api.tokens import create_token
    from portal.sequences import next_change_number
    from portal.webhooks import create_webhook

    run = QueryRun.objects.create(
        investigation=investigation,
        requested_by=analyst,
        analyses=["traffic-summary"],
        change_number=next_change_number(),
    )
    result = RunResult.objects.create(
        run=run,
        analysis="traffic-summary",
        title="Traffic summary",
        position=0,
        columns=["protocol", "flows"],
        row_count=1,
        total_groups=1,
    )
    ResultRow.objects.create(result=result, position=0, data={"protocol": "tcp", "flows": 3})
    detections = RunResult.objects.create(
        run=run,
        analysis="detections",
        title="Detections",
        position=1,
        columns=["type", "severity", "title"],
        row_count=1,
        total_groups=1,
    )
    ResultRow.objects.create(
        result=detections,
        position=0,
        data={"type": "Recon:EC2/SSHBruteForce", "severity": 7, "title": "SSH brute force"},
    )
    finding = Finding.objects.create(
        investigation=investigation,
        run=run,
        type="Recon:EC2/SSHBruteForce",
        severity=7,
        title="SSH brute force",
        change_number=next_change_number(),
    )
    event = audit.record(actor=analyst, action="investigation.seeded", target=investigation)
    hook, _secret = create_webhook(
        user=analyst, name="siem", url="https://siem.example.com/h", events=["run.finished"]
    )
    token, _key = create_token(
        user=analyst, name="old integration", scopes=["read:findings"], actor=analyst
    )
    table = upload_reference_version(
        user=analyst,
        kind="known_hosts",
        name="Known hosts",
        upload=SimpleUploadedFile("hosts.csv", b"ip,alias\n10.0.1.10,web-1\n"),
    ).table
    account = AwsAccount.objects.create(
        name="Production",
        account_id="123456789012",
        role_arn="arn:aws:iam::123456789012:role/FlowLogPortalReader",
        regions=["eu-west-1"],
    )
    return World(
        users={
            OWNER: analyst,
            MEMBER: teammate,
            OUTSIDER: outsider,
            MANAGER: manager,
            ADMIN: admin_user,
        },
        investigation=investigation,
        run=run,
        finding=finding,
        audit_event=event,
        webhook=hook,
        revocable_token=token,
        account=account,
        reference_table=table,
    )


@pytest.fixture
def aws_sandbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[None]:
    """moto in-process, no real credentials or endpoints: AWS-calling rows never leave the box."""
    from moto import mock_aws

    from analysis import aws

    for name in (
        "AWS_ENDPOINT_URL",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "PORTAL_AWS_PROFILE",
        "PORTAL_AWS_PRINCIPAL_ARN",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    aws.clear_session_cache()
    with mock_aws():
        yield
    aws.clear_session_cache()


# --------------------------------------------------------------------------------------- rows

Path = Callable[[World], str]
Done = Callable[[World, str, Client], bool]
Shows = Callable[[World, Any], bool]


@dataclass(frozen=True)
class Row:
    route: str
    method: str
    path: Path
    expect: dict[str, str]
    ok: tuple[int, ...] = (200,)
    body: Callable[[World], dict[str, Any]] | None = None
    encoding: str = "form"  # form (multipart for pages and DRF), or json
    done: Done | None = None  # for writes: did the change happen?
    shows: Shows | None = None  # for listings: is the world's object in it?
    aws: bool = False

    @property
    def api(self) -> bool:
        return self.route.startswith("api:")

    def actors(self) -> tuple[str, ...]:
        return API_ACTORS if self.api else PAGE_ACTORS


def page(route: str, method: str, path: Path, expect: dict[str, str], **kw: Any) -> Row:
    """A page: anonymous callers and bearer tokens are sent to the login page."""
    expect = {ANON: LOGIN, ALL_SCOPES_TOKEN: LOGIN, **expect}
    return Row(route, method, path, expect, **kw)


def api(
    route: str, method: str, path: Path, expect: dict[str, str], *, scope: str | None, **kw: Any
) -> Row:
    """An endpoint: anonymous callers get 401; an owner's token acts as the owner when it holds
    `scope` and gets 403 otherwise; the manager's read:audit token likewise as the manager."""
    cells = dict(expect)
    cells.setdefault(ANON, UNAUTHORIZED)
    for actor, token_scope in zip(OWNER_TOKENS, SCOPES, strict=True):
        granted = scope in (ANY_TOKEN, token_scope)
        cells.setdefault(actor, expect[OWNER] if granted else FORBIDDEN)
    granted = scope in (ANY_TOKEN, "read:audit")
    cells.setdefault(MANAGER_AUDIT_TOKEN, expect[MANAGER] if granted else FORBIDDEN)
    return Row(route, method, path, cells, **kw)


def everyone(outcome: str = OK) -> dict[str, str]:
    return dict.fromkeys(SESSION_ACTORS, outcome)


def reads_investigation() -> dict[str, str]:
    """Owner, member, manager and admin read it; an outsider gets 404, never a hint."""
    return {OWNER: OK, MEMBER: OK, OUTSIDER: NOT_FOUND, MANAGER: OK, ADMIN: OK}


def lists_investigation() -> dict[str, str]:
    return {**reads_investigation(), OUTSIDER: HIDDEN}


def changes_investigation() -> dict[str, str]:
    """Owner and member (analysts) change it; managers and admins read but get 403."""
    return {OWNER: OK, MEMBER: OK, OUTSIDER: NOT_FOUND, MANAGER: FORBIDDEN, ADMIN: FORBIDDEN}


def owner_only_object() -> dict[str, str]:
    """Tokens and webhooks are personal: everyone else gets 404."""
    return {OWNER: OK, MEMBER: NOT_FOUND, OUTSIDER: NOT_FOUND, MANAGER: NOT_FOUND, ADMIN: NOT_FOUND}


def audit_readers() -> dict[str, str]:
    return {OWNER: FORBIDDEN, MEMBER: FORBIDDEN, OUTSIDER: FORBIDDEN, MANAGER: OK, ADMIN: OK}


def aws_admins() -> dict[str, str]:
    return {**everyone(FORBIDDEN), ADMIN: OK}


# Checks used by rows.


def _in_page(url: Callable[[World], str]) -> Shows:
    return lambda w, r: f'href="{url(w)}"' in r.content.decode()


def _in_results(pk: Callable[[World], int]) -> Shows:
    return lambda w, r: pk(w) in [item["id"] for item in r.json()["results"]]


def _run_count_grew(w: World, actor: str, c: Client) -> bool:
    from investigations.models import QueryRun

    runs = QueryRun.objects.filter(investigation=w.investigation)
    return runs.count() == 2 and runs.exclude(pk=w.run.pk).get().status == "queued"


def _run_cancelled(w: World, actor: str, c: Client) -> bool:
    w.run.refresh_from_db()
    return bool(w.run.status == "cancelled")


def _investigation_closed(w: World, actor: str, c: Client) -> bool:
    w.investigation.refresh_from_db()
    return bool(w.investigation.status == "closed")


def _note_added(w: World, actor: str, c: Client) -> bool:
    return bool(w.investigation.notes.filter(text="Matrix note").exists())


def _finding_acknowledged(w: World, actor: str, c: Client) -> bool:
    w.finding.refresh_from_db()
    return bool(w.finding.status == "acknowledged")


def _investigation_created(title: str) -> Done:
    from investigations.models import Investigation

    return lambda w, a, c: Investigation.objects.filter(title=title).exists()


def _webhook_created(w: World, actor: str, c: Client) -> bool:
    from portal.models import Webhook

    return Webhook.objects.filter(name="matrix hook").exists()


def _webhook_deleted(w: World, actor: str, c: Client) -> bool:
    from portal.models import Webhook

    return not Webhook.objects.filter(pk=w.webhook.pk).exists()


def _token_created(w: World, actor: str, c: Client) -> bool:
    from portal.models import ApiToken

    return ApiToken.objects.filter(name="matrix token").exists()


def _token_revoked(w: World, actor: str, c: Client) -> bool:
    w.revocable_token.refresh_from_db()
    return w.revocable_token.revoked_at is not None


def _logged_in_as_expected(w: World, actor: str, c: Client) -> bool:
    """Anonymous callers log in as the owner; a logged-in user stays who they are."""
    expected = w.users.get(actor, w.users[OWNER])
    return c.session.get("_auth_user_id") == str(expected.pk)


def _logged_out(w: World, actor: str, c: Client) -> bool:
    return actor in w.users and "_auth_user_id" not in c.session


NEW_PASSWORD = "a-much-longer-passphrase-2"


def _password_changed(w: World, actor: str, c: Client) -> bool:
    user = w.users.get(actor)
    if user is None:
        return False
    user.refresh_from_db()
    return bool(user.check_password(NEW_PASSWORD))


def _members_shared_with_outsider(w: World, actor: str, c: Client) -> bool:
    return bool(w.investigation.members.filter(pk=w.users[OUTSIDER].pk).exists())


def _assigned_to_member(w: World, actor: str, c: Client) -> bool:
    w.investigation.refresh_from_db()
    return bool(w.investigation.assignee_id == w.users[MEMBER].pk)


def _tagged(w: World, actor: str, c: Client) -> bool:
    names = set(w.investigation.tags.values_list("name", flat=True))
    return names == {"matrix", "lateral movement"}


def _account_created(w: World, actor: str, c: Client) -> bool:
    from accounts.models import AwsAccount

    return AwsAccount.objects.filter(name="Staging").exists()


def _account_renamed(w: World, actor: str, c: Client) -> bool:
    w.account.refresh_from_db()
    return bool(w.account.name == "Production (renamed)")


def _account_deleted(w: World, actor: str, c: Client) -> bool:
    from accounts.models import AwsAccount

    return not AwsAccount.objects.filter(pk=w.account.pk).exists()


def _audited(action: str) -> Done:
    from portal.models import AuditEvent

    return lambda w, a, c: AuditEvent.objects.filter(action=action).exists()


def _reference_created(w: World, actor: str, c: Client) -> bool:
    from investigations.models import ReferenceTable

    return ReferenceTable.objects.filter(name="Matrix hosts").exists()


def _reference_upload(w: World) -> dict[str, Any]:
    return {
        "kind": "known_hosts",
        "name": "Matrix hosts",
        "file": SimpleUploadedFile("hosts.csv", b"ip,alias\n10.0.1.11,web-2\n"),
    }


def reference_uploaders() -> dict[str, str]:
    """Analysts and admins upload reference tables; managers read them."""
    return {**everyone(), MANAGER: FORBIDDEN}


def ref(w: World) -> int:
    return int(w.reference_table.pk)


def _detections(query: str) -> Path:
    """The world run's detections result, as a page of rows or a download."""
    return lambda w: f"/api/v1/runs/{run(w)}/results/detections/{query}"


def table_owner_or_admin() -> dict[str, str]:
    """A reference table's versions and sharing belong to its owner (the world's analyst) and
    admins; other analysts get 403 unless the owner shares it for editing."""
    return {**everyone(FORBIDDEN), OWNER: OK, ADMIN: OK}


def _reference_version_added(w: World, actor: str, c: Client) -> bool:
    return bool(w.reference_table.versions.count() == 2)


def _reference_shared(w: World, actor: str, c: Client) -> bool:
    w.reference_table.refresh_from_db()
    return bool(w.reference_table.shared_editable)


def _new_version_upload(w: World) -> dict[str, Any]:
    return {
        "kind": "known_hosts",
        "name": w.reference_table.name,
        "file": SimpleUploadedFile("hosts.csv", b"ip,alias\n10.0.1.12,web-3\n"),
    }


def _run_upload(w: World) -> dict[str, Any]:
    return {
        "log_files": sample_upload(),
        "analyses": ["traffic-summary"],
        "top_n": 100,
        "rank_by": "flows",
    }


def _account_form(name: str, account_id: str) -> Callable[[World], dict[str, Any]]:
    return lambda w: {
        "name": name,
        "account_id": account_id,
        "role_arn": f"arn:aws:iam::{account_id}:role/FlowLogPortalReader",
        "regions": "eu-west-1",
        "notes": "",
    }


def inv(w: World) -> int:
    return int(w.investigation.pk)


def run(w: World) -> int:
    return int(w.run.pk)


def earlier_run(w: World) -> int:
    """A second, finished run of the investigation to compare the world's run with."""
    from investigations.models import QueryRun, RunResult

    other = QueryRun.objects.create(
        investigation=w.investigation,
        requested_by=w.users[OWNER],
        analyses=["traffic-summary"],
        status="succeeded",
    )
    RunResult.objects.create(
        run=other,
        analysis="traffic-summary",
        title="Traffic summary",
        columns=["protocol", "flows"],
    )
    return int(other.pk)


def acct(w: World) -> int:
    return int(w.account.pk)


def hook(w: World) -> int:
    return int(w.webhook.pk)


def fnd(w: World) -> int:
    return int(w.finding.pk)


def _rule_of(w: World, investigation: Any) -> int:
    """A suppression rule (made once per cell): the investigation's by its owner, or global."""
    from investigations.models import SuppressionRule
    from investigations.suppressions import create_rule

    existing = SuppressionRule.objects.filter(investigation=investigation).first()
    if existing is not None:
        return int(existing.pk)
    return int(
        create_rule(
            user=w.users[OWNER] if investigation is not None else w.users[ADMIN],
            investigation=investigation,
            name="world rule",
            reason="authorised scanner",
            detection="port-scan",
            actor="198.51.100.23",
        ).pk
    )


def rule(w: World) -> int:
    return _rule_of(w, w.investigation)


def global_rule(w: World) -> int:
    return _rule_of(w, None)


def _rule_created(w: World, actor: str, c: Client) -> bool:
    from investigations.models import SuppressionRule

    return SuppressionRule.objects.filter(name="Matrix rule").exists()


def _rule_disabled(pk: Callable[[World], int]) -> Done:
    from investigations.models import SuppressionRule

    return lambda w, a, c: SuppressionRule.objects.get(pk=pk(w)).disabled_at is not None


def _rule_form(w: World) -> dict[str, Any]:
    return {"name": "Matrix rule", "reason": "pen test", "detection": "*", "actor": "10.0.0.1"}


def _rule_json(w: World) -> dict[str, Any]:
    return {**_rule_form(w), "investigation": inv(w)}


def rule_admins() -> dict[str, str]:
    """Global suppression rules: admins manage them."""
    return {**everyone(FORBIDDEN), ADMIN: OK}


def aws_run(w: World) -> int:
    """A succeeded CloudWatch run of the investigation (made once per cell): watchable."""
    from investigations.models import QueryRun

    found = QueryRun.objects.filter(investigation=w.investigation, source="cloudwatch").first()
    if found is None:
        found = QueryRun.objects.create(
            investigation=w.investigation,
            requested_by=w.users[OWNER],
            analyses=["traffic-summary"],
            source="cloudwatch",
            source_config={
                "account": w.account.pk,
                "account_id": w.account.account_id,
                "instance": {"instance_id": "i-0abc", "name": "web", "interfaces": []},
            },
            status="succeeded",
        )
    return int(found.pk)


def _watch_of(w: World, *, paused: bool) -> int:
    """A watch of the investigation (made once per cell), with one alert when active."""
    from django.utils import timezone

    from investigations.watches.models import Watch, WatchAlert

    name = "paused watch" if paused else "web watch"
    existing = Watch.objects.filter(investigation=w.investigation, name=name).first()
    if existing is not None:
        return int(existing.pk)
    watch = Watch.objects.create(
        investigation=w.investigation,
        name=name,
        account=w.account,
        instance="web",
        source="cloudwatch",
        analyses=["traffic-summary"],
        created_by=w.users[OWNER],
        interval_minutes=60,
        lag_seconds=300,
        next_run_at=timezone.now(),
        paused=paused,
    )
    if not paused:
        WatchAlert.objects.create(
            watch=watch, run=w.run, kind="coverage_gap", summary="3 SKIPDATA", change_number=1
        )
    return int(watch.pk)


def watch(w: World) -> int:
    return _watch_of(w, paused=False)


def paused_watch(w: World) -> int:
    return _watch_of(w, paused=True)


def watch_alert(w: World) -> int:
    from investigations.watches.models import WatchAlert

    return int(WatchAlert.objects.get(watch_id=watch(w)).pk)


def _watch_created(w: World, actor: str, c: Client) -> bool:
    from investigations.watches.models import Watch

    return Watch.objects.filter(source_run_id=aws_run(w)).exists()


def _watch_is(pk: Callable[[World], int], **fields: Any) -> Done:
    from investigations.watches.models import Watch

    return lambda w, a, c: Watch.objects.filter(pk=pk(w), **fields).exists()


def _watch_gone(w: World, actor: str, c: Client) -> bool:
    from investigations.watches.models import Watch

    return not Watch.objects.filter(name="web watch").exists()


LOGIN_PAGE = {**everyone(OK), ANON: OK, ALL_SCOPES_TOKEN: OK}

ROWS: list[Row] = [
    # ---- site pages
    page("home", "GET", lambda w: "/", everyone(), ok=(302,)),
    page("healthz", "GET", lambda w: "/healthz", {**everyone(), ANON: OK, ALL_SCOPES_TOKEN: OK}),
    page("audit_log", "GET", lambda w: "/audit/", audit_readers()),
    page("integrations", "GET", lambda w: "/integrations/", everyone()),
    page(
        "integrations",
        "POST",
        lambda w: "/integrations/",
        everyone(),
        body=lambda w: {"token-name": "matrix token", "token-scopes": ["read:findings"]},
        done=_token_created,
    ),
    page(
        "token_revoke",
        "POST",
        lambda w: f"/integrations/tokens/{w.revocable_token.pk}/revoke/",
        owner_only_object(),
        ok=(302,),
        done=_token_revoked,
    ),
    page(
        "webhook_delete",
        "POST",
        lambda w: f"/integrations/webhooks/{hook(w)}/delete/",
        owner_only_object(),
        ok=(302,),
        done=_webhook_deleted,
    ),
    page(
        "webhook_deliveries",
        "GET",
        lambda w: f"/integrations/webhooks/{hook(w)}/deliveries/",
        owner_only_object(),
    ),
    page("login", "GET", lambda w: "/auth/login/", LOGIN_PAGE, ok=(200, 302)),
    page(
        "login",
        "POST",
        lambda w: "/auth/login/",
        LOGIN_PAGE,
        ok=(302,),
        body=lambda w: {"username": w.users[OWNER].username, "password": PASSWORD},
        done=_logged_in_as_expected,
    ),
    page("logout", "POST", lambda w: "/auth/logout/", everyone(), ok=(302,), done=_logged_out),
    page("password_change", "GET", lambda w: "/auth/password/", everyone()),
    page(
        "password_change",
        "POST",
        lambda w: "/auth/password/",
        everyone(),
        ok=(302,),
        body=lambda w: {
            "old_password": PASSWORD,
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
        done=_password_changed,
    ),
    page("password_change_done", "GET", lambda w: "/auth/password/done/", everyone()),
    # ---- investigation pages
    page(
        "investigations:list",
        "GET",
        lambda w: "/investigations/",
        lists_investigation(),
        shows=_in_page(lambda w: f"/investigations/{inv(w)}/"),
    ),
    page(
        "investigations:create",
        "GET",
        lambda w: "/investigations/new/",
        {**everyone(), MANAGER: FORBIDDEN, ADMIN: FORBIDDEN},
    ),
    page(
        "investigations:create",
        "POST",
        lambda w: "/investigations/new/",
        {**everyone(), MANAGER: FORBIDDEN, ADMIN: FORBIDDEN},
        ok=(302,),
        body=lambda w: {"title": "Opened in the matrix", "description": ""},
        done=_investigation_created("Opened in the matrix"),
    ),
    page(
        "investigations:detail",
        "GET",
        lambda w: f"/investigations/{inv(w)}/",
        reads_investigation(),
    ),
    page(
        "investigations:run_create",
        "GET",
        lambda w: f"/investigations/{inv(w)}/runs/new/",
        changes_investigation(),
    ),
    page(
        "investigations:run_create",
        "POST",
        lambda w: f"/investigations/{inv(w)}/runs/new/",
        changes_investigation(),
        ok=(302,),
        body=_run_upload,
        done=_run_count_grew,
    ),
    page(
        "investigations:note_add",
        "POST",
        lambda w: f"/investigations/{inv(w)}/notes/",
        changes_investigation(),
        ok=(302,),
        body=lambda w: {"text": "Matrix note"},
        done=_note_added,
    ),
    page(
        "investigations:status",
        "POST",
        lambda w: f"/investigations/{inv(w)}/status/",
        changes_investigation(),
        ok=(302,),
        body=lambda w: {"status": "closed"},
        done=_investigation_closed,
    ),
    page(
        "investigations:members",
        "POST",
        lambda w: f"/investigations/{inv(w)}/members/",
        {**changes_investigation(), MEMBER: FORBIDDEN},
        ok=(302,),
        body=lambda w: {"members": [w.users[MEMBER].pk, w.users[OUTSIDER].pk]},
        done=_members_shared_with_outsider,
    ),
    page(
        "investigations:assignee",
        "POST",
        lambda w: f"/investigations/{inv(w)}/assignee/",
        changes_investigation(),
        ok=(302,),
        body=lambda w: {"assignee": w.users[MEMBER].pk},
        done=_assigned_to_member,
    ),
    page(
        "investigations:tags",
        "POST",
        lambda w: f"/investigations/{inv(w)}/tags/",
        changes_investigation(),
        ok=(302,),
        body=lambda w: {"tags": "Matrix, lateral movement"},
        done=_tagged,
    ),
    page(
        "investigations:run_history",
        "GET",
        lambda w: "/investigations/runs/",
        lists_investigation(),
        shows=_in_page(lambda w: f"/investigations/runs/{run(w)}/"),
    ),
    page(
        "investigations:run_detail",
        "GET",
        lambda w: f"/investigations/runs/{run(w)}/",
        reads_investigation(),
    ),
    page(
        "investigations:run_progress",
        "GET",
        lambda w: f"/investigations/runs/{run(w)}/progress/",
        reads_investigation(),
    ),
    page(
        "investigations:run_cancel",
        "POST",
        lambda w: f"/investigations/runs/{run(w)}/cancel/",
        changes_investigation(),
        ok=(302,),
        done=_run_cancelled,
    ),
    page(
        "investigations:run_charts",
        "GET",
        lambda w: f"/investigations/runs/{run(w)}/charts.json",
        reads_investigation(),
    ),
    page(
        "investigations:run_graph",
        "GET",
        lambda w: f"/investigations/runs/{run(w)}/graph.json",
        reads_investigation(),
    ),
    page(
        "investigations:run_geo",
        "GET",
        lambda w: f"/investigations/runs/{run(w)}/geo/",
        reads_investigation(),
    ),
    page(
        "investigations:run_result",
        "GET",
        lambda w: f"/investigations/runs/{run(w)}/results/traffic-summary/",
        reads_investigation(),
    ),
    page(
        "investigations:finding_triage",
        "POST",
        lambda w: f"/investigations/findings/{fnd(w)}/triage/",
        changes_investigation(),
        ok=(302,),
        body=lambda w: {"status": "acknowledged"},
        done=_finding_acknowledged,
    ),
    page(
        "investigations:findings_triage",
        "POST",
        lambda w: f"/investigations/{inv(w)}/findings/triage/",
        changes_investigation(),
        ok=(302,),
        body=lambda w: {"finding": [fnd(w)], "status": "acknowledged"},
        done=_finding_acknowledged,
    ),
    # ---- suppression rules: readers of the investigation see them, its analysts change them
    page(
        "investigations:suppressions",
        "GET",
        lambda w: f"/investigations/{inv(w)}/suppressions/?finding={fnd(w)}",
        reads_investigation(),
    ),
    page(
        "investigations:suppressions",
        "POST",
        lambda w: f"/investigations/{inv(w)}/suppressions/",
        changes_investigation(),
        ok=(302,),
        body=_rule_form,
        done=_rule_created,
    ),
    page(
        "investigations:suppressions_global",
        "GET",
        lambda w: "/investigations/suppressions/",
        everyone(),
    ),
    page(
        "investigations:suppressions_global",
        "POST",
        lambda w: "/investigations/suppressions/",
        rule_admins(),
        ok=(302,),
        body=_rule_form,
        done=_rule_created,
    ),
    page(
        "investigations:suppression_disable",
        "POST",
        lambda w: f"/investigations/suppressions/{rule(w)}/disable/",
        changes_investigation(),
        ok=(302,),
        done=_rule_disabled(rule),
    ),
    page(
        "investigations:suppression_disable",
        "POST",
        lambda w: f"/investigations/suppressions/{global_rule(w)}/disable/",
        rule_admins(),
        ok=(302,),
        done=_rule_disabled(global_rule),
    ),
    # ---- watches: readers of the investigation see them, its analysts change them
    page(
        "investigations:watch_create",
        "GET",
        lambda w: f"/investigations/runs/{aws_run(w)}/watch/",
        changes_investigation(),
    ),
    page(
        "investigations:watch_create",
        "POST",
        lambda w: f"/investigations/runs/{aws_run(w)}/watch/",
        changes_investigation(),
        ok=(302,),
        body=lambda w: {"interval_minutes": 30, "k": 2.5},
        done=_watch_created,
    ),
    page(
        "investigations:watch_detail",
        "GET",
        lambda w: f"/investigations/watches/{watch(w)}/",
        reads_investigation(),
    ),
    page(
        "investigations:watch_detail",
        "POST",
        lambda w: f"/investigations/watches/{watch(w)}/",
        changes_investigation(),
        ok=(302,),
        body=lambda w: {"interval_minutes": 45, "k": 3},
        done=_watch_is(watch, interval_minutes=45),
    ),
    page(
        "investigations:watch_pause",
        "POST",
        lambda w: f"/investigations/watches/{watch(w)}/pause/",
        changes_investigation(),
        ok=(302,),
        done=_watch_is(watch, paused=True),
    ),
    page(
        "investigations:watch_resume",
        "POST",
        lambda w: f"/investigations/watches/{paused_watch(w)}/resume/",
        changes_investigation(),
        ok=(302,),
        done=_watch_is(paused_watch, paused=False),
    ),
    page(
        "investigations:watch_delete",
        "POST",
        lambda w: f"/investigations/watches/{watch(w)}/delete/",
        changes_investigation(),
        ok=(302,),
        done=_watch_gone,
    ),
    page("entity_detail", "GET", lambda w: "/entities/203.0.113.50/", everyone()),
    page("detections", "GET", lambda w: "/detections/", everyone()),
    page(
        "investigations:run_compare",
        "GET",
        lambda w: f"/investigations/runs/{run(w)}/compare/?with={earlier_run(w)}",
        reads_investigation(),
    ),
    # ---- reference tables: every role reads, analysts and admins upload
    page(
        "investigations:reference_list",
        "GET",
        lambda w: "/investigations/reference/",
        everyone(),
        shows=_in_page(lambda w: f"/investigations/reference/{ref(w)}/"),
    ),
    page(
        "investigations:reference_list",
        "POST",
        lambda w: "/investigations/reference/",
        reference_uploaders(),
        ok=(302,),
        body=_reference_upload,
        done=_reference_created,
    ),
    page(
        "investigations:reference_detail",
        "GET",
        lambda w: f"/investigations/reference/{ref(w)}/",
        everyone(),
    ),
    page(
        "investigations:reference_list",
        "POST",
        lambda w: "/investigations/reference/",
        table_owner_or_admin(),
        ok=(302,),
        body=_new_version_upload,
        done=_reference_version_added,
    ),
    page(
        "investigations:reference_sharing",
        "POST",
        lambda w: f"/investigations/reference/{ref(w)}/sharing/",
        table_owner_or_admin(),
        ok=(302,),
        body=lambda w: {"shared_editable": "on"},
        done=_reference_shared,
    ),
    # ---- AWS account pages: every role reads, admins change
    page(
        "accounts:list",
        "GET",
        lambda w: "/aws/",
        everyone(),
        shows=_in_page(lambda w: f"/aws/{acct(w)}/"),
    ),
    page("accounts:create", "GET", lambda w: "/aws/new/", aws_admins()),
    page(
        "accounts:create",
        "POST",
        lambda w: "/aws/new/",
        aws_admins(),
        ok=(302,),
        body=_account_form("Staging", "210987654321"),
        done=_account_created,
    ),
    page("accounts:detail", "GET", lambda w: f"/aws/{acct(w)}/", everyone()),
    page("accounts:edit", "GET", lambda w: f"/aws/{acct(w)}/edit/", aws_admins()),
    page(
        "accounts:edit",
        "POST",
        lambda w: f"/aws/{acct(w)}/edit/",
        aws_admins(),
        ok=(302,),
        body=_account_form("Production (renamed)", "123456789012"),
        done=_account_renamed,
    ),
    page("accounts:delete", "GET", lambda w: f"/aws/{acct(w)}/delete/", aws_admins()),
    page(
        "accounts:delete",
        "POST",
        lambda w: f"/aws/{acct(w)}/delete/",
        aws_admins(),
        ok=(302,),
        done=_account_deleted,
    ),
    page(
        "accounts:test_connection",
        "POST",
        lambda w: f"/aws/{acct(w)}/test-connection/",
        aws_admins(),
        ok=(302,),
        done=_audited("aws_account.connection_tested"),
        aws=True,
    ),
    page(
        "accounts:refresh",
        "POST",
        lambda w: f"/aws/{acct(w)}/refresh/",
        aws_admins(),
        ok=(302,),
        done=_audited("aws_account.discovery_refreshed"),
        aws=True,
    ),
    page(
        "accounts:instance_search",
        "GET",
        lambda w: f"/aws/{acct(w)}/instances/search/?q=web",
        everyone(),
    ),
    page("accounts:setup", "GET", lambda w: f"/aws/{acct(w)}/setup/terraform/", aws_admins()),
    # ---- Django admin: staff (the admin role) only; the rest of admin/ is Django's own
    page("admin:index", "GET", lambda w: "/admin/", {**everyone(ADMIN_LOGIN), ADMIN: OK}),
    # ---- API: index and schema
    api("api:api-root", "GET", lambda w: "/api/v1/", everyone(), scope=ANY_TOKEN),
    api("api:schema", "GET", lambda w: "/api/v1/schema/", everyone(), scope=ANY_TOKEN),
    api("api:docs", "GET", lambda w: "/api/v1/docs/", everyone(), scope=ANY_TOKEN),
    # ---- API: investigations
    api(
        "api:investigation-list",
        "GET",
        lambda w: "/api/v1/investigations/",
        lists_investigation(),
        scope="read:investigations",
        shows=_in_results(inv),
    ),
    api(
        "api:investigation-list",
        "POST",
        lambda w: "/api/v1/investigations/",
        {**everyone(), MANAGER: FORBIDDEN, ADMIN: FORBIDDEN},
        scope="write:investigations",
        ok=(201,),
        encoding="json",
        body=lambda w: {"title": "Opened through the API"},
        done=_investigation_created("Opened through the API"),
    ),
    api(
        "api:investigation-detail",
        "GET",
        lambda w: f"/api/v1/investigations/{inv(w)}/",
        reads_investigation(),
        scope="read:investigations",
    ),
    api(
        "api:investigation-detail",
        "PATCH",
        lambda w: f"/api/v1/investigations/{inv(w)}/",
        changes_investigation(),
        scope="write:investigations",
        encoding="json",
        body=lambda w: {"status": "closed"},
        done=_investigation_closed,
    ),
    api(
        "api:investigation-notes",
        "GET",
        lambda w: f"/api/v1/investigations/{inv(w)}/notes/",
        reads_investigation(),
        scope="read:investigations",
    ),
    api(
        "api:investigation-notes",
        "POST",
        lambda w: f"/api/v1/investigations/{inv(w)}/notes/",
        changes_investigation(),
        scope="write:investigations",
        ok=(201,),
        encoding="json",
        body=lambda w: {"text": "Matrix note"},
        done=_note_added,
    ),
    # ---- API: runs
    api(
        "api:run-list",
        "GET",
        lambda w: "/api/v1/runs/",
        lists_investigation(),
        scope="read:investigations",
        shows=_in_results(run),
    ),
    # An outsider's 400 is the same "invalid pk" a made-up id gets: no hint the investigation
    # exists (test_hidden_investigation_and_missing_one_look_the_same_to_an_outsider).
    api(
        "api:run-list",
        "POST",
        lambda w: "/api/v1/runs/",
        {**changes_investigation(), OUTSIDER: INVALID},
        scope="write:runs",
        ok=(202,),
        body=lambda w: {
            "investigation": inv(w),
            "analyses": "traffic-summary",
            "files": sample_upload(),
        },
        done=_run_count_grew,
    ),
    api(
        "api:run-changes",
        "GET",
        lambda w: "/api/v1/runs/changes/",
        lists_investigation(),
        scope="read:investigations",
        shows=_in_results(run),
    ),
    api(
        "api:run-detail",
        "GET",
        lambda w: f"/api/v1/runs/{run(w)}/",
        reads_investigation(),
        scope="read:investigations",
    ),
    api(
        "api:run-cancel",
        "POST",
        lambda w: f"/api/v1/runs/{run(w)}/cancel/",
        changes_investigation(),
        scope="write:runs",
        done=_run_cancelled,
    ),
    api(
        "api:run-results",
        "GET",
        lambda w: f"/api/v1/runs/{run(w)}/results/",
        reads_investigation(),
        scope="read:investigations",
    ),
    api(
        "api:run-result",
        "GET",
        lambda w: f"/api/v1/runs/{run(w)}/results/traffic-summary/",
        reads_investigation(),
        scope="read:investigations",
    ),
    # Detection rows are findings: a token needs read:investigations and read:findings, so no
    # single-scope token reads them, in any format (tests/investigations/test_api_scopes.py).
    *(
        api("api:run-result", "GET", _detections(query), reads_investigation(), scope=NO_TOKEN)
        for query in ("", "?format=csv", "?format=ocsf", "?format=ndjson")
    ),
    api(
        "api:run-compare",
        "GET",
        lambda w: f"/api/v1/runs/{run(w)}/compare/?with={earlier_run(w)}",
        reads_investigation(),
        scope="read:investigations",
    ),
    # ---- API: findings
    api(
        "api:finding-list",
        "GET",
        lambda w: "/api/v1/findings/",
        lists_investigation(),
        scope="read:findings",
        shows=_in_results(fnd),
    ),
    api(
        "api:finding-changes",
        "GET",
        lambda w: "/api/v1/findings/changes/",
        lists_investigation(),
        scope="read:findings",
        shows=_in_results(fnd),
    ),
    api(
        "api:finding-detail",
        "GET",
        lambda w: f"/api/v1/findings/{fnd(w)}/",
        reads_investigation(),
        scope="read:findings",
    ),
    api(
        "api:finding-sightings",
        "GET",
        lambda w: f"/api/v1/findings/{fnd(w)}/sightings/",
        reads_investigation(),
        scope="read:findings",
    ),
    api(
        "api:finding-detail",
        "PATCH",
        lambda w: f"/api/v1/findings/{fnd(w)}/",
        changes_investigation(),
        scope="write:investigations",
        encoding="json",
        body=lambda w: {"status": "acknowledged"},
        done=_finding_acknowledged,
    ),
    api(
        "api:detection-list",
        "GET",
        lambda w: "/api/v1/detections/",
        everyone(),
        scope="read:findings",
    ),
    api(
        "api:suppression-rule-list",
        "GET",
        lambda w: f"/api/v1/suppression-rules/?_={rule(w)}",
        lists_investigation(),
        scope="read:findings",
        shows=_in_results(rule),
    ),
    api(
        "api:suppression-rule-list",
        "POST",
        lambda w: "/api/v1/suppression-rules/",
        {**changes_investigation(), OUTSIDER: INVALID},
        scope="write:investigations",
        ok=(201,),
        encoding="json",
        body=_rule_json,
        done=_rule_created,
    ),
    api(
        "api:suppression-rule-list",
        "POST",
        lambda w: "/api/v1/suppression-rules/",
        rule_admins(),
        scope="write:investigations",
        ok=(201,),
        encoding="json",
        body=_rule_form,
        done=_rule_created,
    ),
    api(
        "api:suppression-rule-detail",
        "GET",
        lambda w: f"/api/v1/suppression-rules/{rule(w)}/",
        reads_investigation(),
        scope="read:findings",
    ),
    api(
        "api:suppression-rule-disable",
        "POST",
        lambda w: f"/api/v1/suppression-rules/{rule(w)}/disable/",
        changes_investigation(),
        scope="write:investigations",
        done=_rule_disabled(rule),
    ),
    api(
        "api:watch-list",
        "GET",
        lambda w: f"/api/v1/watches/?_={watch(w)}",
        lists_investigation(),
        scope="read:investigations",
        shows=_in_results(watch),
    ),
    api(
        "api:watch-list",
        "POST",
        lambda w: "/api/v1/watches/",
        {**changes_investigation(), OUTSIDER: INVALID},
        scope="write:runs",
        ok=(201,),
        encoding="json",
        body=lambda w: {"run": aws_run(w), "interval_minutes": 30, "k": 2},
        done=_watch_created,
    ),
    api(
        "api:watch-detail",
        "GET",
        lambda w: f"/api/v1/watches/{watch(w)}/",
        reads_investigation(),
        scope="read:investigations",
    ),
    api(
        "api:watch-detail",
        "PATCH",
        lambda w: f"/api/v1/watches/{watch(w)}/",
        changes_investigation(),
        scope="write:runs",
        encoding="json",
        body=lambda w: {"interval_minutes": 45},
        done=_watch_is(watch, interval_minutes=45),
    ),
    api(
        "api:watch-detail",
        "DELETE",
        lambda w: f"/api/v1/watches/{watch(w)}/",
        changes_investigation(),
        scope="write:runs",
        ok=(204,),
        done=_watch_gone,
    ),
    api(
        "api:watch-pause",
        "POST",
        lambda w: f"/api/v1/watches/{watch(w)}/pause/",
        changes_investigation(),
        scope="write:runs",
        done=_watch_is(watch, paused=True),
    ),
    api(
        "api:watch-resume",
        "POST",
        lambda w: f"/api/v1/watches/{paused_watch(w)}/resume/",
        changes_investigation(),
        scope="write:runs",
        done=_watch_is(paused_watch, paused=False),
    ),
    api(
        "api:watch-alert-list",
        "GET",
        lambda w: f"/api/v1/watch-alerts/?_={watch_alert(w)}",
        lists_investigation(),
        scope="read:investigations",
        shows=_in_results(watch_alert),
    ),
    api(
        "api:watch-alert-detail",
        "GET",
        lambda w: f"/api/v1/watch-alerts/{watch_alert(w)}/",
        reads_investigation(),
        scope="read:investigations",
    ),
    api(
        "api:watch-alert-changes",
        "GET",
        lambda w: f"/api/v1/watch-alerts/changes/?_={watch_alert(w)}",
        lists_investigation(),
        scope="read:investigations",
        shows=_in_results(watch_alert),
    ),
    api(
        "api:entity-detail",
        "GET",
        lambda w: "/api/v1/entities/203.0.113.50/",
        everyone(),
        scope="read:investigations",
    ),
    # ---- API: audit log
    api(
        "api:audit-event-list",
        "GET",
        lambda w: "/api/v1/audit-events/",
        audit_readers(),
        scope="read:audit",
        shows=_in_results(lambda w: int(w.audit_event.pk)),
    ),
    api(
        "api:audit-event-detail",
        "GET",
        lambda w: f"/api/v1/audit-events/{w.audit_event.pk}/",
        audit_readers(),
        scope="read:audit",
    ),
    # ---- API: webhooks (personal)
    api(
        "api:webhook-list",
        "GET",
        lambda w: "/api/v1/webhooks/",
        {**everyone(HIDDEN), OWNER: OK},
        scope="read:investigations",
        shows=_in_results(hook),
    ),
    api(
        "api:webhook-list",
        "POST",
        lambda w: "/api/v1/webhooks/",
        everyone(),
        scope="write:investigations",
        ok=(201,),
        encoding="json",
        body=lambda w: {
            "name": "matrix hook",
            "url": "https://siem.example.com/matrix",
            "events": ["run.finished"],
        },
        done=_webhook_created,
    ),
    api(
        "api:webhook-detail",
        "GET",
        lambda w: f"/api/v1/webhooks/{hook(w)}/",
        owner_only_object(),
        scope="read:investigations",
    ),
    api(
        "api:webhook-detail",
        "DELETE",
        lambda w: f"/api/v1/webhooks/{hook(w)}/",
        owner_only_object(),
        scope="write:investigations",
        ok=(204,),
        done=_webhook_deleted,
    ),
    api(
        "api:webhook-deliveries",
        "GET",
        lambda w: f"/api/v1/webhooks/{hook(w)}/deliveries/",
        owner_only_object(),
        scope="read:investigations",
    ),
    # ---- API: reference tables
    api(
        "api:reference-table-list",
        "GET",
        lambda w: "/api/v1/reference-tables/",
        everyone(),
        scope="read:investigations",
        shows=_in_results(ref),
    ),
    api(
        "api:reference-table-list",
        "POST",
        lambda w: "/api/v1/reference-tables/",
        reference_uploaders(),
        scope="write:investigations",
        ok=(201,),
        body=_reference_upload,
        done=_reference_created,
    ),
    api(
        "api:reference-table-list",
        "POST",
        lambda w: "/api/v1/reference-tables/",
        table_owner_or_admin(),
        scope="write:investigations",
        ok=(201,),
        body=_new_version_upload,
        done=_reference_version_added,
    ),
    api(
        "api:reference-table-detail",
        "PATCH",
        lambda w: f"/api/v1/reference-tables/{ref(w)}/",
        table_owner_or_admin(),
        scope="write:investigations",
        encoding="json",
        body=lambda w: {"shared_editable": True},
        done=_reference_shared,
    ),
    api(
        "api:reference-table-detail",
        "GET",
        lambda w: f"/api/v1/reference-tables/{ref(w)}/",
        everyone(),
        scope="read:investigations",
    ),
    api(
        "api:reference-table-versions",
        "GET",
        lambda w: f"/api/v1/reference-tables/{ref(w)}/versions/",
        everyone(),
        scope="read:investigations",
    ),
    # ---- API: AWS accounts (changes are session-only: no token scope grants them)
    api(
        "api:account-list",
        "GET",
        lambda w: "/api/v1/accounts/",
        everyone(),
        scope="read:investigations",
        shows=_in_results(acct),
    ),
    api(
        "api:account-detail",
        "GET",
        lambda w: f"/api/v1/accounts/{acct(w)}/",
        everyone(),
        scope="read:investigations",
    ),
    api(
        "api:account-instance-search",
        "GET",
        lambda w: f"/api/v1/accounts/{acct(w)}/instances/search/?q=web",
        everyone(),
        scope="read:investigations",
    ),
    api(
        "api:account-setup",
        "GET",
        lambda w: f"/api/v1/accounts/{acct(w)}/setup/",
        aws_admins(),
        scope="read:investigations",
    ),
    api(
        "api:account-test-connection",
        "POST",
        lambda w: f"/api/v1/accounts/{acct(w)}/test-connection/",
        aws_admins(),
        scope=NO_TOKEN,
        done=_audited("aws_account.connection_tested"),
        aws=True,
    ),
    api(
        "api:account-refresh",
        "POST",
        lambda w: f"/api/v1/accounts/{acct(w)}/refresh/",
        aws_admins(),
        scope=NO_TOKEN,
        done=_audited("aws_account.discovery_refreshed"),
        aws=True,
    ),
    # ---- reports: whoever reads the investigation reads its report (managers too)
    page(
        "investigations:report",
        "GET",
        lambda w: f"/investigations/{inv(w)}/report.md",
        reads_investigation(),
        done=_audited("report.exported"),
    ),
    page(
        "investigations:report_job",
        "GET",
        lambda w: f"/investigations/reports/{rep(w)}/",
        reads_investigation(),
    ),
    page(
        "investigations:report_file",
        "GET",
        lambda w: f"/investigations/reports/{rep(w)}/download/",
        reads_investigation(),
    ),
    page(
        "investigations:findings_summary",
        "GET",
        lambda w: "/investigations/summary/",
        {**everyone(), OUTSIDER: HIDDEN},
        shows=lambda w, r: w.finding.type in r.content.decode(),
    ),
    # A report holds findings: a token needs read:investigations and read:findings.
    api(
        "api:investigation-report",
        "GET",
        lambda w: f"/api/v1/investigations/{inv(w)}/report/",
        reads_investigation(),
        scope=NO_TOKEN,
    ),
    api(
        "api:report-detail",
        "GET",
        lambda w: f"/api/v1/reports/{rep(w)}/",
        reads_investigation(),
        scope=NO_TOKEN,
    ),
    api(
        "api:report-download",
        "GET",
        lambda w: f"/api/v1/reports/{rep(w)}/download/",
        reads_investigation(),
        scope=NO_TOKEN,
    ),
    # The summary page's numbers: everyone, over what they may see (managers: everything).
    api(
        "api:findings-summary",
        "GET",
        lambda w: "/api/v1/findings-summary/",
        {**everyone(), OUTSIDER: HIDDEN},
        scope="read:findings",
        shows=lambda w, r: w.finding.type in [row["type"] for row in r.json()["by_type"]],
    ),
]


def rep(w: World) -> int:
    """A finished report export of the world's investigation, its file stored by a worker."""
    from investigations.reports.models import ReportExport, reports_dir

    export, _ = ReportExport.objects.get_or_create(
        investigation=w.investigation,
        requested_by=w.users[OWNER],
        format="md",
        defaults={"status": "succeeded", "storage_key": f"matrix-{w.investigation.pk}.md"},
    )
    (reports_dir() / export.storage_key).write_text("# Report\n")
    return int(export.pk)


# Routes the matrix deliberately leaves out, by namespace, with the reason.
SKIPPED_NAMESPACES = {
    "admin": "Django admin's own views and staff checks; the admin:index row checks who gets in",
}

# ------------------------------------------------------------------------------- the URLconf


def _walk(
    patterns: list[Any], prefix: str = "", namespace: str = ""
) -> Iterator[tuple[str, str | None, dict[str, str] | None]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = ":".join(part for part in (namespace, pattern.namespace or "") if part)
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name
            yield prefix + str(pattern.pattern), name, getattr(pattern.callback, "actions", None)


def _skipped(route: str, name: str | None) -> bool:
    return any(
        route.startswith(f"{ns}/") or (name or "").startswith(f"{ns}:") for ns in SKIPPED_NAMESPACES
    )


def test_every_route_has_a_row() -> None:
    declared: dict[str, set[str]] = {}
    for row in ROWS:
        declared.setdefault(row.route, set()).add(row.method)
    missing: list[str] = []
    seen = set()
    for route, name, actions in _walk(get_resolver().url_patterns):
        if _skipped(route, name):
            continue
        if name is None:
            missing.append(f"{route} (unnamed)")
            continue
        seen.add(name)
        # DRF adds "head" to a viewset's actions once it has served a GET (HEAD mirrors GET).
        methods = {m.upper() for m in actions if m != "head"} if actions else set()
        if name not in declared:
            missing.append(name)
        elif methods - declared[name]:
            missing.append(f"{name} {sorted(methods - declared[name])}")
    missing = list(dict.fromkeys(missing))  # DRF adds a `.json`-suffix twin of each route
    assert not missing, f"Routes without a permission-matrix row: {missing}"
    assert set(declared) - seen - {"admin:index"} == set(), "rows for routes that do not exist"


def test_every_row_has_an_expectation_for_every_actor() -> None:
    for row in ROWS:
        assert set(row.expect) == set(row.actors()), (row.route, row.method)


# -------------------------------------------------------------------------------- the cells


def _cells() -> Iterator[Any]:
    for row in ROWS:
        for actor in row.actors():
            yield pytest.param(row, actor, id=f"{row.route} {row.method} {actor}")


def _send(client: Client, row: Row, path: str, body: dict[str, Any] | None) -> Any:
    if row.method == "GET":
        return client.get(path)
    if row.method == "DELETE":
        return client.delete(path)
    if row.encoding == "json":
        return client.generic(
            row.method, path, json.dumps(body or {}), content_type="application/json"
        )
    if row.method == "POST":
        return client.post(path, body or {})
    raise AssertionError(f"no encoding for {row.method} {row.encoding}")


@pytest.mark.parametrize(("row", "actor"), list(_cells()))
def test_permission(row: Row, actor: str, world: World, request: pytest.FixtureRequest) -> None:
    if row.aws:
        request.getfixturevalue("aws_sandbox")
    path = row.path(world)
    assert resolve(path.split("?")[0]).view_name == row.route
    client = world.client(actor)
    response = _send(client, row, path, row.body(world) if row.body else None)
    outcome = row.expect[actor]
    code = response.status_code
    described = f"{row.method} {path} as {actor}: {code} {response.get('Location', '')}"

    if outcome == LOGIN:
        assert code == 302, described
        assert response["Location"].startswith(f"{reverse('login')}?next="), described
    elif outcome == ADMIN_LOGIN:
        assert code == 302, described
        assert response["Location"].startswith(f"{reverse('admin:login')}?next="), described
    elif outcome == OK:
        assert code in row.ok, described
        if code == 302:
            assert not response["Location"].startswith(f"{reverse('login')}?next="), described
        if row.shows:
            assert row.shows(world, response), f"{described}: the object is not listed"
    elif outcome == HIDDEN:
        assert code == 200, described
        assert row.shows is not None and not row.shows(world, response), (
            f"{described}: the object is listed"
        )
    else:
        assert code == int(outcome), described

    if row.done is not None:
        happened = row.done(world, actor, client)
        assert happened is (outcome == OK), f"{described}: change happened={happened}"


# A method a route does not declare is refused with 405 before anything else happens.
PROBED_METHODS = ("GET", "POST", "PATCH", "DELETE")


def _undeclared() -> Iterator[Any]:
    declared: dict[str, set[str]] = {}
    paths: dict[str, Path] = {}
    for row in ROWS:
        declared.setdefault(row.route, set()).add(row.method)
        paths.setdefault(row.route, row.path)
    for route, methods in declared.items():
        if route == "admin:index":
            continue
        for method in PROBED_METHODS:
            if method not in methods:
                yield pytest.param(route, method, paths[route], id=f"{route} {method}")


@pytest.mark.parametrize(("route", "method", "path"), list(_undeclared()))
def test_undeclared_methods_are_not_allowed(
    route: str, method: str, path: Path, world: World
) -> None:
    # The login page sends logged-in users away whatever the method; probe it anonymously.
    actor = ANON if route == "login" else OWNER
    client = world.client(actor)
    response = client.generic(method, path(world))
    assert response.status_code == 405, f"{method} {route}: {response.status_code}"


def test_hidden_investigation_and_missing_one_look_the_same_to_an_outsider(
    world: World,
) -> None:
    """The API's 400 for a run in someone else's investigation says nothing a made-up id
    would not."""
    client = world.client(OUTSIDER)
    answers = []
    for pk in (inv(world), 999_999):
        response = client.post(
            "/api/v1/runs/",
            {"investigation": pk, "analyses": "traffic-summary", "files": sample_upload()},
        )
        assert response.status_code == 400
        answers.append(response.json()["investigation"][0].replace(str(pk), "N"))
    assert answers[0] == answers[1]
