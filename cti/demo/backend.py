"""A demo self-service back-end: the shop's order, delivery and account API, with sample data.

It exists so the demo flow has something real to call (and tests a slow and a failing
answer). A real deployment points ``backend.base_url`` at the merchant's own API instead.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from flask import Flask, abort, jsonify


@dataclass(frozen=True)
class Order:
    status: str
    eta: tuple[int, int]  # month, day
    carrier: dict[str, str]
    location: dict[str, str]
    tracking_no: str


SF = {"zh": "顺丰速运", "en": "SF Express"}
ORDERS: dict[str, Order] = {
    "12345678": Order("shipped", (11, 25), SF, {"zh": "上海转运中心", "en": "the Shanghai hub"},
                      "SF1029384756"),
    "23456789": Order("paid", (11, 24), {"zh": "京东物流", "en": "JD Logistics"},
                      {"zh": "北京仓库", "en": "the Beijing warehouse"}, "JD5566778899"),
    "34567890": Order("delivered", (11, 20), SF, {"zh": "杭州西湖区", "en": "Hangzhou"},
                      "SF1122334455"),
    "45678901": Order("cancelled", (0, 0), {}, {}, ""),
}
SLOW_ORDER = "56789012"  # answers after 10 s: longer than any action timeout
BROKEN_ORDER = "67890123"  # answers HTTP 500
# ``tier``: "vip" or "standard"; a flow that maps it to ``account_tier`` tags VIP callers
# (README "Customer tags", ``tags.vip_var``).
ACCOUNTS = {"13800138000": {"id": "A1001", "phone_last4": "8000", "tier": "vip"}}
ORDER_ID = re.compile(r"^\d{8}$")


def create_demo_backend(slow_seconds: float = 10.0) -> Flask:
    app = Flask("hotline_demo_backend")

    def order_or_abort(order_id: str) -> Order:
        if not ORDER_ID.match(order_id):
            abort(404)
        if order_id == SLOW_ORDER:
            time.sleep(slow_seconds)
        if order_id == BROKEN_ORDER:
            abort(500)
        order = ORDERS.get(order_id)
        if order is None:
            abort(404)
        return order

    @app.get("/orders/<order_id>")
    def order_status(order_id: str) -> Any:
        order = order_or_abort(order_id)
        month, day = order.eta
        return jsonify(id=order_id, status=order.status, eta={"month": month, "day": day})

    @app.get("/deliveries/<order_id>")
    def delivery(order_id: str) -> Any:
        from flask import request

        order = order_or_abort(order_id)
        if not order.tracking_no:
            abort(404)
        lang = request.args.get("lang", "zh")
        lang = lang if lang in ("zh", "en") else "zh"
        return jsonify(carrier=order.carrier[lang], location=order.location[lang],
                       tracking_no=re.sub(r"\D", "", order.tracking_no))

    @app.get("/accounts/by-phone/<phone>")
    def account_by_phone(phone: str) -> Any:
        account = ACCOUNTS.get(phone)
        if account is None:
            abort(404)
        return jsonify(account)

    @app.post("/accounts/<account_id>/password-reset")
    def password_reset(account_id: str) -> Any:
        if account_id not in {a["id"] for a in ACCOUNTS.values()}:
            abort(404)
        return jsonify(sent=True)

    @app.get("/health")
    def health() -> Any:
        return jsonify(ok=True)

    return app
