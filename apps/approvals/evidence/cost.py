"""Cost: what the requested deployment would cost a month (the instance's
hourly price from the backend's price table x instance count x 730 hours),
and per 1,000 predictions at a stated request rate (one row per request)."""

from __future__ import annotations

from apps.backends.base import Endpoints, Pricing, require
from apps.backends.registry import LABELS

from ..models import CheckStatus
from . import CheckContext, CheckResult, check_register
from .sources import deployment_backend

HOURS_PER_MONTH = 730


def _money(amount: float, currency: str, digits: int = 2) -> str:
    return f"${amount:,.{digits}f}" if currency == "USD" else f"{amount:,.{digits}f} {currency}"


@check_register(
    "cost",
    label="Cost estimate",
    position=50,
    settings={"max_monthly": None, "requests_per_second": 1},
    help="Monthly cost of the requested deployment and cost per 1,000 predictions at requests_per_second; "
    "fails above max_monthly (none: information only).",
)
def cost(ctx: CheckContext) -> CheckResult:
    deployment = ctx.request.deployment or {}
    backend = deployment_backend(ctx)
    kind = getattr(backend, "kind", "")
    name = LABELS.get(kind, kind or "The deployment's backend")
    target = deployment.get("target") or "cpu"
    instance_type = deployment.get("instance_type") or require(backend, Endpoints).instance_type_for(target)
    count = int(deployment.get("instance_count") or 1)
    rate = float(ctx.settings.get("requests_per_second") or 1)
    figures: dict = {"Backend": name, "Instance type": instance_type, "Instances": count}
    price = backend.hosting_price(instance_type) if isinstance(backend, Pricing) else None
    if price is None:
        return CheckResult(
            status=CheckStatus.WARNING,
            summary=f"{name} has no price for {instance_type} in its price table: no cost estimate.",
            figures=figures,
        )
    monthly = price.amount * count * HOURS_PER_MONTH
    predictions = rate * 3600 * HOURS_PER_MONTH
    per_thousand = monthly / predictions * 1000
    currency = price.currency
    figures.update(
        {
            f"Price per instance-hour ({currency})": price.amount,
            "Price from": price.source,
            "Hours per month": HOURS_PER_MONTH,
            f"Monthly ({currency} / month)": round(monthly, 2),
            "Requests per second": rate,
            f"Per 1,000 predictions ({currency})": round(per_thousand, 6),
        }
    )
    said = (
        f"About {_money(monthly, currency)} / month for {count} × {instance_type} at "
        f"{_money(price.amount, currency, 3)} / hour, {_money(per_thousand, currency, 4)} per 1,000 predictions "
        f"at {rate:g} request{'s' if rate != 1 else ''} per second"
    )
    limit = ctx.settings.get("max_monthly")
    figures[f"Allowed ({currency} / month)"] = limit
    if limit is not None and monthly > float(limit):
        return CheckResult(
            status=CheckStatus.FAILED,
            summary=f"{said}: over the allowed {_money(float(limit), currency)} / month.",
            figures=figures,
        )
    return CheckResult(status=CheckStatus.PASSED, summary=f"{said}.", figures=figures)
