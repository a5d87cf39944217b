"""``spendtag mcp``: the ledger's answers for coding agents over the Model Context Protocol (stdio).

``answers`` computes what each tool returns (no MCP in it), ``serve`` wires the answers to the
official ``mcp`` SDK (the ``mcp`` extra), and ``hosts`` adds the server to MCP hosts' config files.
"""
