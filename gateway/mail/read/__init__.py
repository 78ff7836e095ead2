"""The mail API's read routes (messages, threads, attachments, search, contact timeline,
export), served from the store as the policy decision allows, with their resolvers,
schemas, queries and cursors."""
