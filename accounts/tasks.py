"""Celery tasks: thin shells over the discovery service; RegionDiscovery rows record each run."""

from __future__ import annotations

import logging

from celery import shared_task
from django.contrib.auth import get_user_model

from accounts.models import AwsAccount
from accounts.services import refresh_discovery as refresh_discovery_service

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def refresh_discovery(account_id: int, user_id: int | None = None) -> None:
    """Refresh every region of one account; safe to run twice (each run replaces the rows)."""
    account = AwsAccount.objects.filter(pk=account_id).first()
    if account is None:
        logger.info("AWS account %s is gone; nothing to discover.", account_id)
        return
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    result = refresh_discovery_service(user=user, account=account)
    logger.info("Discovery of %s: %s", account, result.summary())
