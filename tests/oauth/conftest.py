"""The Google fixtures live in tests/google_world.py (a plugin registered in tests/conftest.py);
their helpers are re-exported here for the OAuth tests' relative imports."""

from tests.google_world import *  # noqa: F403
from tests.google_world import (  # noqa: F401 - names the tests import from here
    CLIENT_ID,
    CLIENT_SECRET,
    GOOGLE_ALICE,
    GOOGLE_BOB,
    PRIVACY_URL,
    PUBLIC_BASE,
    REDIRECT_URI,
    RETURN_URL,
    ConnectResult,
    connect,
    consent_at_google,
    follow_callback,
    google_url_from_page,
    page_links,
    path_and_query,
    query,
    refresh_tokens_of,
    repo_root,
    start_connect,
)
