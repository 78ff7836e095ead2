"""Where Google's endpoints are, and where the local Google emulator (docs/emulator.md) serves
each of them."""

GOOGLE_AUTH_URI = "https://accounts.google.com/o/oauth2/auth"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 - an endpoint, not a secret
GOOGLE_REVOKE_URI = "https://oauth2.googleapis.com/revoke"
GOOGLE_USERINFO_URI = "https://openidconnect.googleapis.com/v1/userinfo"
GOOGLE_CERTS_URI = "https://www.googleapis.com/oauth2/v3/certs"
GMAIL_API_ENDPOINT = "https://gmail.googleapis.com"
# Gmail push (gateway.push, docs/push.md): Pub/Sub's OIDC tokens are Google ID tokens, verified
# against Google's PEM certificates (what google-auth's id_token module reads without PyJWT).
GOOGLE_PUSH_CERTS_URI = "https://www.googleapis.com/oauth2/v1/certs"
GOOGLE_PUSH_ISSUERS = ("accounts.google.com", "https://accounts.google.com")
PUSH_PATH = "/v1/push/gmail"
EMULATOR_PUSH_SERVICE_ACCOUNT = "gmail-push@emulator-project.iam.gserviceaccount.com"
EMULATOR_PUSH_TOPIC = "projects/emulator-project/topics/gmail"

# Where each Google endpoint lives on the local emulator (see emulator/oauth.py), and the
# emulator's built-in OAuth client, used only when GATEWAY_EMULATOR_URL is set.
EMULATOR_PATHS = {"google_auth_uri": "/o/oauth2/auth", "google_token_uri": "/token",
                  "google_revoke_uri": "/revoke", "google_userinfo_uri": "/oauth2/v3/userinfo",
                  "google_certs_uri": "/oauth2/v3/certs", "gmail_api_endpoint": "",
                  "push_certs_uri": "/oauth2/v1/certs"}
EMULATOR_CLIENT_ID = "emulator-client.apps.googleusercontent.com"
EMULATOR_CLIENT_SECRET = "emulator-secret"  # noqa: S105 - the emulator's published test client
