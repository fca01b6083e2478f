"""STAND-INS for the clouds, not the clouds: local servers that speak the real
wire protocols, for development (``make run``) and tests. ``aws``: moto's
server with Atrium's documented extensions; ``databricks``: an HTTP stand-in
for the Databricks REST API. Adapters reach them by URL only.
"""
