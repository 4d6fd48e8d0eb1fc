"""The Postgres schema (versioned migrations) and connection pools shared by workers and the API."""
