"""The web app's fixtures (tests/web/conftest.py), here beside the suite's Postgres."""

from tests.web.conftest import apis, clock, make_client, settings

__all__ = ["apis", "clock", "make_client", "settings"]
