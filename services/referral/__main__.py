"""``python -m services.referral``: serve the referral service with uvicorn."""

from __future__ import annotations

import uvicorn

from services.referral.main import create_app
from shared.settings import Settings


def main() -> None:
    settings = Settings()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.referral_port,
        log_config=None,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
