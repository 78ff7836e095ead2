"""One scheduler for every periodic job (`gmail-gateway scheduler`), elected per job through a
lease row in the database (docs/deploy.md, "The scheduler")."""
