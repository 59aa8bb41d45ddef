"""Products attached to deals, and deal installments (v2 ``/deals/products``, ``/installments``).

Both are derived from the deal's hash on first use, as followers are, so a million deals cost
nothing until someone asks: 55% of generated deals carry 1-5 products of the catalogue (a
product may appear twice, as in the app). A deal whose products are all one-time may have 2-4
installments (the API allows installments only then); their amounts add up to the products'
sum. Once changed (``touch``), a deal's products are stored. Deal-product ids are
``(deal_id - 1) * 6 + k`` and installment ids ``(deal_id - 1) * 4 + k`` (k from 1): unique,
rising with the deal, not dense, as ids in a real account often are not.
"""

from __future__ import annotations

from typing import Any

from crm_sandbox.pipedrive import timefmt
from crm_sandbox.pipedrive.data import mix
from crm_sandbox.pipedrive.store import Record, Table

PER_DEAL = 6  # id slots per deal for products (at most 5 used)
INSTALLMENT_SLOTS = 4
TAX_METHODS = ("exclusive", "inclusive", "none")


def products_of(deals: Table, products: Table, deal_id: int) -> list[Record]:
    """The products attached to a deal (stored state or the seeded one), oldest first."""
    stored: dict[int, list[Record]] = deals.aux.setdefault("deal_products", {})
    found = stored.get(deal_id)
    return found if found is not None else _seeded_products(deals, products, deal_id)


def store_products(deals: Table, products: Table, deal_id: int) -> list[Record]:
    """The deal's products as a stored (mutable) list."""
    stored: dict[int, list[Record]] = deals.aux.setdefault("deal_products", {})
    found = stored.get(deal_id)
    if found is None:
        found = [dict(p) for p in _seeded_products(deals, products, deal_id)]
        stored[deal_id] = found
    return found


def _catalogue(products: Table) -> tuple[list[Record], list[int]]:
    """The generated products (as first seeded: later edits don't rewrite old deals) and the
    ids of the one-time ones."""
    found = products.aux.get("as_generated")
    if found is None:
        n, generate = products.aux.get("generated", 0), products.generate
        records = [generate(products, pid, False) for pid in range(1, n + 1)] if generate else []
        once = [r["id"] for r in records if r["billing_frequency"] == "one-time"]
        found = (records, once)
        products.aux["as_generated"] = found
    return found


def _seeded_products(deals: Table, products: Table, deal_id: int) -> list[Record]:
    if deal_id > deals.aux.get("generated", 0) or products.generate is None:
        return []
    catalogue, one_time = _catalogue(products)
    if not catalogue:
        return []
    h = mix(deals.salt ^ (deal_id * 0x9E37 + 17))
    if h % 100 >= 55:
        return []
    count = 1 + (h >> 8) % 5
    # a third of the deals sell one-time products only (the deals installments are for)
    choices = one_time if one_time and (h >> 36) % 3 == 0 else [r["id"] for r in catalogue]
    added = deals.cols["add_time"][deal_id - 1]
    updated = deals.cols["update_time"][deal_id - 1]
    out: list[Record] = []
    for k in range(count):
        x = mix(h + k)
        pid = choices[x % len(choices)]
        product = catalogue[pid - 1]
        base = product["prices"][0]["price"] if product["prices"] else 0
        price = round(base * (1 if x >> 10 & 1 else 0.9), 2)
        quantity = 1 + (x >> 12) % 10
        discount = (0, 0, 5, 10, 12.5)[(x >> 16) % 5]
        discount_type = "percentage" if (x >> 20) % 4 else "amount"
        if discount_type == "amount":
            discount = round(min(discount * 10, price * quantity), 2)
        tax = product["tax"]
        tax_method = TAX_METHODS[(x >> 22) % 3]
        at = added + (k + 1) * 60
        changed = at if updated <= at else at + (x >> 24) % (updated - at + 1)
        frequency = product["billing_frequency"]
        recurring = frequency != "one-time"
        out.append(
            {
                "id": (deal_id - 1) * PER_DEAL + k + 1,
                "deal_id": deal_id,
                "product_id": pid,
                "product_variation_id": None,
                "name": product["name"],
                "item_price": price,
                "quantity": quantity,
                "discount": discount,
                "discount_type": discount_type,
                "tax": tax,
                "tax_method": tax_method,
                "sum": line_sum(price, quantity, discount, discount_type, tax, tax_method),
                "currency": "EUR",
                "is_enabled": (x >> 26) % 10 != 0,
                "comments": None if x % 3 else "Rabatt laut Rahmenvertrag — 2ª fase",
                "billing_frequency": frequency,
                "billing_frequency_cycles": 12 if recurring and (x >> 28) % 2 else None,
                "billing_start_date": timefmt.day(at) if recurring else None,
                "add_time": timefmt.iso(at),
                "update_time": timefmt.iso(changed),
            }
        )
    return out


def line_sum(
    price: float, quantity: int, discount: float, kind: str, tax: float, method: str
) -> float:
    gross = price * quantity
    net = gross - discount if kind == "amount" else gross * (1 - discount / 100)
    if method == "exclusive":
        net *= 1 + tax / 100
    return round(net, 2)


def installments_of(deals: Table, products: Table, deal_id: int) -> list[Record]:
    """Seeded installments: only on deals whose enabled products are all one-time."""
    items = products_of(deals, products, deal_id)
    if not items or any(p["billing_frequency"] != "one-time" for p in items):
        return []
    h = mix(deals.salt ^ (deal_id * 0x51F1 + 3))
    if h % 2:
        return []
    total = round(sum(p["sum"] for p in items if p["is_enabled"]), 2)
    count = 2 + (h >> 4) % 3
    share = round(total / count, 2)
    first = timefmt.parse_date(items[0]["add_time"][:10]) or 0
    out = []
    for k in range(count):
        amount = share if k < count - 1 else round(total - share * (count - 1), 2)
        out.append(
            {
                "id": (deal_id - 1) * INSTALLMENT_SLOTS + k + 1,
                "deal_id": deal_id,
                "amount": amount,
                "billing_date": timefmt.day((first + 30 * (k + 1)) * 86400),
                "description": f"Rate {k + 1}/{count}",
            }
        )
    return out


def touch_products(deals: Table, products: Table, deal_id: int, now: int) -> None:
    """A change to a deal made "in the CRM" also re-saves its products (update_time = now)."""
    if not products_of(deals, products, deal_id):
        return
    for item in store_products(deals, products, deal_id):
        item["update_time"] = timefmt.iso(now)


def sort_key(item: Record, field: str) -> Any:
    value = item.get(field)
    return (0, "") if value is None else (1, value)
