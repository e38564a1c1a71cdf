"""The web app: server-rendered pages for caseworkers, providers, supervisors and auditors,
calling the three services' public APIs with the signed-in person's token."""
