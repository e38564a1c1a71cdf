"""``python -m services.web``: serve the web app with uvicorn."""

from __future__ import annotations

import uvicorn

from services.web.config import WebSettings
from services.web.main import create_app
from shared.settings import Settings


def main() -> None:
    settings = Settings()
    web = WebSettings()
    uvicorn.run(
        create_app(settings, web),
        host=settings.host,
        port=web.port,
        log_config=None,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
