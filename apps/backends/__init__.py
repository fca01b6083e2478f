"""Backends: where the work really happens (local, AWS SageMaker, Databricks).

A plain package, not a Django app: adapters take and return the dataclasses in
``base`` and never touch the ORM, so they can be exercised against stand-ins.
"""
