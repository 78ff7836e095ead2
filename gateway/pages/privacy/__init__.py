"""The privacy center (/me): an end user's connected mailboxes, human access to their mail
(requests, grants, who read what and why), and their rights over its data (export, restriction,
deletion). `router` holds its pages (routes.py) and forms (actions.py)."""

from gateway.pages.privacy import actions as actions  # registers the forms on the router
from gateway.pages.privacy.routes import router as router
