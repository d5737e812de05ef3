"""Persistence (peewee), free of Qt so that headless commands and tests can use it."""
