"""The one NinjaAPI at /api/: each app contributes a router; errors have one format."""

from ninja import NinjaAPI

from apps.ingestion.api import router as auth_router
from apps.monitoring.api import router as platform_router
from apps.trading.api import router as trading_router
from config.api_errors import install_error_handlers

api = NinjaAPI(
    title="Solana Trading Platform API",
    version="1.0",
    description="Read API, execution, monitoring and rollout control for Solana memecoins.",
    urls_namespace="api",
    docs_url="/docs",
)
install_error_handlers(api)

api.add_router("/", platform_router)
api.add_router("/auth", auth_router)
api.add_router("/pulse", "apps.monitoring.api_pulse.router")
api.add_router("/", trading_router)
