"""How the notify service is reached: NATS consumers and HTTP routes."""
