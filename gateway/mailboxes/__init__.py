"""The mailbox aggregate every domain builds on: the `Mailbox` row and its state, the scopes it
granted and the features they enable, its sealed Google tokens and its Gmail client, its
restriction of processing, the resolvers that load it for a route. Imports no domain."""
