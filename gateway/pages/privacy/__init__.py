"""The privacy center (/me): an end user's connected mailboxes, human access to their mail
(requests, grants, who read what and why), and their rights over its data (export, restriction,
deletion)."""
