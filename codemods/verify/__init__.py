"""The verify wing: the plan's Verification section, run against a migrated repository."""
