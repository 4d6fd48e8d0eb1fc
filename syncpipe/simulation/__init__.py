"""The platform simulator: plays realistic sync-call traffic against a running pipeline and checks
that what the read API serves is what SPEC §5 says it must converge to.

- `model.expected_state` — the reference model; `snapshot` — the read API's answer shapes.
- `generator.generate_history` / `delivery.delivery_order` — seeded histories and their delivery.
- `runner.simulate` — one run (`config.SimulationConfig` in, `report.SimulationReport` out).
- `command.add_arguments` / `command.run_from_args` — the `syncpipe simulate` subcommand.

Nothing is re-exported here, so that importing the pure model does not import the HTTP client.
"""
