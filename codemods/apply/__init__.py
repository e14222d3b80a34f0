"""The apply wing: a migration session that parses each file once, shared engines, and one thin command per recipe task."""
