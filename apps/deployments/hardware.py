"""What an endpoint's variants run on and what that costs: the instance type
(as the backend names it; a variant asked for by target gets the backend's
type for it), the instance count, and the price of an hour and of a month
from the backend's price table (the ``Pricing`` capability, as the approvals
cost check reads it). A backend with no price for the type gives no figure:
the page says "price unknown" rather than a made-up zero."""

from __future__ import annotations

from dataclasses import dataclass

from apps.backends import registry as backend_registry
from apps.backends.base import BackendError, Endpoints, HourlyPrice, Pricing
from apps.connections.services import connection_backend

from .models import Endpoint, Variant

# A month of hours as AWS prices one (365 × 24 / 12), the figure the approvals cost check uses too.
HOURS_PER_MONTH = 730


@dataclass(frozen=True)
class Hardware:
    instance_type: str  # "" when the backend cannot say
    instance_count: int
    price: HourlyPrice | None  # of one instance for an hour; None: unknown

    @property
    def per_hour(self) -> float | None:
        return None if self.price is None else self.price.amount * self.instance_count

    @property
    def per_month(self) -> float | None:
        return None if self.per_hour is None else self.per_hour * HOURS_PER_MONTH

    @property
    def hour_label(self) -> str:
        return "" if self.per_hour is None else f"{money(self.per_hour, self.price.currency, 3)} / hour"

    @property
    def unit_label(self) -> str:
        """One instance's hour, for people: "2 × $0.115 an instance-hour"."""
        return "" if self.price is None else f"{money(self.price.amount, self.price.currency, 3)} an instance-hour"

    @property
    def month_label(self) -> str:
        return "" if self.per_month is None else f"{money(self.per_month, self.price.currency)} / month"


def money(amount: float, currency: str, digits: int = 2) -> str:
    return f"${amount:,.{digits}f}" if currency == "USD" else f"{amount:,.{digits}f} {currency}"


def _backend(endpoint: Endpoint):
    """The endpoint's backend, built from configuration only (no network call), or None."""
    try:
        if endpoint.connection_id:
            return connection_backend(endpoint.connection)
        return backend_registry.get_backend(endpoint.backend)
    except BackendError:
        return None


def _instance_type(backend, variant: Variant) -> str:
    if variant.instance_type:
        return variant.instance_type
    if not variant.target or not isinstance(backend, Endpoints):
        return ""
    try:
        return backend.instance_type_for(variant.target)
    except BackendError:
        return ""


def endpoint_hardware(
    endpoint: Endpoint, variants: list[Variant], *, backends: dict | None = None
) -> dict[str, Hardware]:
    """Each variant's hardware and price, by variant name. A caller looping over many endpoints
    passes one ``backends`` dict: each connection's backend is then made (its secrets
    decrypted, its clients built) once, not once per endpoint."""
    if backends is None:
        backend = _backend(endpoint)
    else:
        key = endpoint.connection_id or endpoint.backend
        if key not in backends:
            backends[key] = _backend(endpoint)
        backend = backends[key]
    found = {}
    for variant in variants:
        instance_type = _instance_type(backend, variant)
        price = None
        if instance_type and isinstance(backend, Pricing):
            try:
                price = backend.hosting_price(instance_type)
            except (BackendError, OSError, ValueError):  # a price table the operator named that cannot be read
                price = None
        found[variant.name] = Hardware(instance_type=instance_type, instance_count=variant.instance_count, price=price)
    return found


def variants_with_hardware(endpoint: Endpoint) -> list[Variant]:
    """The endpoint's variants (prefetched ones as they are), each with its ``hardware``."""
    variants = list(endpoint.variants.all())
    found = endpoint_hardware(endpoint, variants)
    for variant in variants:
        variant.hardware = found[variant.name]
    return variants
