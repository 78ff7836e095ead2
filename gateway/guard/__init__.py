"""The web guard: every route states its policy action and passes through the enforcement point
(`routing.GuardedRouter`), and the OpenAPI document says so (`openapi`). Above accounts and
policy, below the domains whose routes use it (docs/architecture.md)."""
