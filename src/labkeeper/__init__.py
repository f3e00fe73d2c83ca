"""labkeeper: a self-hosted data-science instance speaking the DSS public REST API."""
