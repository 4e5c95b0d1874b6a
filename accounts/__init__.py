"""AWS accounts the portal reads: credentials by assume-role, regions and discovery."""
