"""factory_boy factories for people, investigations and runs."""

from __future__ import annotations

from typing import Any

import factory
from django.contrib.auth import get_user_model

from investigations.models import Investigation
from portal.roles import role_group

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")

    @factory.post_generation
    def role(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        self.set_password(PASSWORD)
        if extracted:
            self.is_staff = extracted == "admin"
        self.save()
        if create and extracted:
            self.groups.add(role_group(extracted))


class InvestigationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Investigation

    title = factory.Sequence(lambda n: f"Investigation {n}")
    description = "Something looks off."
    owner = factory.SubFactory(UserFactory, role="analyst")
