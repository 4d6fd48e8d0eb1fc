"""The Postgres schema (versioned migrations) and connection pools shared by workers and the API."""

# The largest `bigint`, the type of every id and offset column: a number past it names nothing
# stored, and asyncpg cannot even send it (a caller range-checks at the edge, answering 400 / exit 2).
BIGINT_MAX = 2**63 - 1
