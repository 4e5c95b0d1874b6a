"""API views for AWS accounts: the same scoped querysets and service functions as the pages."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.access import get_rw_account_for_user
from accounts.api.serializers import (
    AwsAccountDetailSerializer,
    AwsAccountSerializer,
    ConnectionTestSerializer,
    DiscoveryResultSerializer,
    InstanceSearchSerializer,
    RoleSetupSerializer,
)
from accounts.models import AwsAccount
from accounts.role_templates import FORMATS, role_setup_for
from accounts.services import refresh_discovery, run_connection_test, search_instances
from portal.api.permissions import TokenHasScope
from portal.audit import client_ip_of
from portal.models import ApiToken


def _token_id(request: Request) -> int | None:
    return request.auth.pk if isinstance(request.auth, ApiToken) else None


class AwsAccountViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Accounts for every portal role; test-connection and refresh for admins (session only:
    no token scope allows changes to AWS accounts yet)."""

    permission_classes = [IsAuthenticated, TokenHasScope]
    required_scopes = {"GET": "read:investigations"}

    def get_queryset(self) -> Any:
        return (
            AwsAccount.objects.for_user(self.request.user)
            .prefetch_related("discoveries")
            .order_by("name")
        )

    def get_serializer_class(self) -> Any:
        return AwsAccountDetailSerializer if self.action == "retrieve" else AwsAccountSerializer

    def _writable(self, request: Request) -> AwsAccount:
        self.get_object()  # 404 for what the user cannot see
        return get_rw_account_for_user(request.user, int(self.kwargs["pk"]))

    @extend_schema(request=None, responses={200: ConnectionTestSerializer})
    @action(detail=True, methods=["post"], url_path="test-connection")
    def test_connection(self, request: Request, pk: str | None = None) -> Response:
        account = self._writable(request)
        result = run_connection_test(
            user=request.user,
            account=account,
            client_ip=client_ip_of(request),
            api_token_id=_token_id(request),
        )
        return Response(result)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "format",
                str,
                enum=list(FORMATS),
                description="Answer with that one file instead (CloudFormation YAML or JSON, or "
                "Terraform), as a download.",
            )
        ],
        responses={200: RoleSetupSerializer},
    )
    @action(detail=True, methods=["get"])
    def setup(self, request: Request, pk: str | None = None) -> Response | HttpResponse:
        """The customer's role, paste-ready (admins): the portal's principal, the external ID,
        both policies, and CloudFormation and Terraform holding them."""
        account = self._writable(request)
        setup = role_setup_for(account)
        fmt = request.query_params.get("format")
        if fmt:
            if fmt not in FORMATS:
                raise serializers.ValidationError(
                    {"format": [f"Choose one of: {', '.join(FORMATS)}."]}
                )
            response = HttpResponse(
                setup.render(fmt), content_type=f"{FORMATS[fmt][0]}; charset=utf-8"
            )
            response["Content-Disposition"] = f'attachment; filename="{setup.filename(fmt)}"'
            return response
        return Response(
            {
                "account": account.pk,
                "role_arn": account.role_arn,
                "external_id": setup.external_id,
                "principal": setup.principal.arn,
                "principal_source": setup.principal.source,
                "principal_note": setup.principal.note,
                "notes": setup.notes(),
                "trust_policy": setup.trust_policy,
                "permission_policy": setup.permission_policy,
                "cloudformation_yaml": setup.cloudformation_yaml(),
                "cloudformation_json": setup.cloudformation_json(),
                "terraform": setup.terraform(),
            }
        )

    @extend_schema(request=None, responses={200: DiscoveryResultSerializer})
    @action(detail=True, methods=["post"])
    def refresh(self, request: Request, pk: str | None = None) -> Response:
        account = self._writable(request)
        result = refresh_discovery(
            user=request.user,
            account=account,
            client_ip=client_ip_of(request),
            api_token_id=_token_id(request),
        )
        return Response(result.to_dict())

    @extend_schema(
        parameters=[OpenApiParameter("q", str, description="Instance id, Name tag or address.")],
        responses={200: InstanceSearchSerializer},
    )
    @action(detail=True, methods=["get"], url_path="instances/search", url_name="instance-search")
    def instance_search(self, request: Request, pk: str | None = None) -> Response:
        account = self.get_object()
        query = request.query_params.get("q", "")
        targets, total = search_instances(user=request.user, account=account, query=query)
        return Response(
            {
                "account": account.pk,
                "query": query,
                "count": total,
                "truncated": total > len(targets),
                "results": [t.to_dict() for t in targets],
            }
        )
