"""Page URLs for AWS accounts (filled in by the accounts work)."""

app_name = "accounts"

urlpatterns: list = []
