"""API views for AWS accounts: the same scoped querysets and service functions as the pages."""

from __future__ import annotations

from typing import Any

from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.access import get_rw_account_for_user
from accounts.api.serializers import AwsAccountDetailSerializer, AwsAccountSerializer
from accounts.models import AwsAccount
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
