"""scim-groups: a Slack app that shows the SCIM groups synced into Cloudflare Zero Trust."""

__version__ = "0.1.0"
