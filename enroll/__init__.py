"""Enrollment logic (Qt-free): quality gates and adding people to the store."""
