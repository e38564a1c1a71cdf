"""``python -m services.notify``: serve the notify service with uvicorn."""

from __future__ import annotations

import uvicorn

from services.notify.main import create_app
from shared.settings import Settings


def main() -> None:
    settings = Settings()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.notify_port,
        log_config=None,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
