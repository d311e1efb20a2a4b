"""One module per verb: orchestration, no typer."""
