"""Who may call the services: API clients, their roles, scopes and keys (one registry for all)."""
