"""Table-driven tests of the Lua scripts, one module per script."""
