"""The trading API: read endpoints (simulation, token safety, fees, accounts), wallets and
orders.

Each area has its own router module; this package mounts them under /api/.
"""

from ninja import Router

from .accounts import router as accounts_router
from .fees import router as fees_router
from .orders import router as orders_router
from .safety import router as safety_router
from .simulate import router as simulate_router
from .wallets import router as wallets_router

router = Router()
router.add_router("/transaction", simulate_router)
router.add_router("/token", safety_router)
router.add_router("/fees", fees_router)
router.add_router("/account", accounts_router)
router.add_router("/wallets", wallets_router)
router.add_router("/orders", orders_router)
