"""The demo app: a home page that loads the webpack bundle, and /healthz."""
