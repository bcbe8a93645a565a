"""The smallest realistic plugin: one action and a connection with a credential, laid out like a
generated plugin (``actions/<name>/{action,schema}.py``, schemas as JSON text). The one-shot benchmark
runs it so the figure is the runtime's cost, not that of whatever a bigger plugin imports."""
