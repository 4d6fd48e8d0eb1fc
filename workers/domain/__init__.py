"""How a tenant's organisation changes: versions, tombstones, floors, snapshots, orphans.

Plain Python: no Kafka, Postgres or HTTP. The state is one last-writer-wins register per entity
(department, user, authorisation, application, the tenant record), each carrying the platform
`timeStamp` of the change that last wrote it, plus *floors* raised by deletes of containers
(tenant delete, user delete, full snapshot). A change older than its entity's version or below a
floor is stale. Both operations — "write if newer" and "raise a floor, dropping what is below
it" — commute, so applying any set of changes in any order, with duplicates, ends in the state of
applying them in `timeStamp` order. That is the convergence property of SPEC §5.
"""
