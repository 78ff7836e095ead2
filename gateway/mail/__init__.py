"""Messages and labels: the encrypted store (`store`), the read routes (`read`), the write
routes (`write`), gathered in one router (`router`); docs/architecture.md maps them."""
