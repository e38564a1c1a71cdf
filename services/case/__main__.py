"""``python -m services.case``: serve the case service with uvicorn."""

from __future__ import annotations

import uvicorn

from services.case.main import create_app
from shared.settings import Settings


def main() -> None:
    settings = Settings()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.case_port,
        log_config=None,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
