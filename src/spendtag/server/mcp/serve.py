"""The MCP server: each answer as a read-only tool, over stdio, with the official ``mcp`` SDK."""


import json
from collections.abc import Callable
from typing import Annotated, Any

from spendtag.errors import SpendtagError
from spendtag.server.mcp import answers
from spendtag.server.mcp.answers import Ledger


def require_mcp_extra() -> None:
    try:
        import mcp.server  # noqa: F401
    except ImportError:
        raise SpendtagError("this needs the MCP SDK: pip install 'spendtag[mcp]'") from None


INSTRUCTIONS = ("spendtag's ledger of LLM spend, read-only: what a project, client or session cost so far, "
                "budgets and what is left, the month's forecast, and the costliest sessions. Money is exact: "
                "*_usd are decimal USD strings, *_pico the same amount in 1e-12 USD.")


def build(ledger: Ledger) -> Any:
    """The MCPServer with every tool registered (each marked read-only)."""
    from mcp.server import MCPServer
    from mcp.types import CallToolResult, TextContent, ToolAnnotations
    from pydantic import Field

    server = MCPServer("spendtag", instructions=INSTRUCTIONS)
    read_only = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                                open_world_hint=False)

    def answer(compute: Callable[[], dict[str, Any]]) -> CallToolResult:
        try:
            data = compute()
        except (SpendtagError, ValueError) as exc:   # a bad argument: one line, never a traceback
            return CallToolResult(content=[TextContent(type="text", text=f"error: {exc}")], is_error=True)
        return CallToolResult(content=[TextContent(type="text", text=data["text"]),
                                       TextContent(type="text", text=json.dumps(data, ensure_ascii=False))],
                              structured_content=data)

    Tags = Annotated[list[str] | None, Field(description="Tag conditions, e.g. ['client=acme', 'env=prod'].")]
    Project = Annotated[str | None, Field(description="A project path: its calls and those under it.")]
    Period = Annotated[str | None, Field(description="2026-03, 2026-03-14, 2026-W11, 2026, or this-month, "
                                                     "today, last-7-days...")]
    Since = Annotated[str | None, Field(description="Start (inclusive): 2026-03-01 or an ISO time.")]
    Until = Annotated[str | None, Field(description="End (exclusive).")]
    Agent = Annotated[str | None, Field(description="An agent name, e.g. claude-code.")]

    @server.tool(annotations=read_only)
    def spend(tags: Tags = None, project: Project = None, agent: Agent = None, period: Period = None,
              since: Since = None, until: Until = None,
              by: Annotated[str | None, Field(description="Group rows by a tag key or dimension "
                                                          "(default: client).")] = None) -> CallToolResult:
        """Spend so far for a project, client (or any tag) or agent in a period: total and rows, exact USD."""
        return answer(lambda: answers.spend(ledger, tags=tags or (), project=project, agent=agent, period=period,
                                            since=since, until=until, by=by))

    @server.tool(annotations=read_only)
    def budget_status(name: Annotated[str | None, Field(description="One budget's name (default: all).")] = None,
                      ) -> CallToolResult:
        """Budgets: spent, limit, what is left, percent, projection and status in the current period."""
        return answer(lambda: answers.budget_status(ledger, name=name))

    @server.tool(annotations=read_only)
    def forecast(scope: Tags = None, agent: Agent = None,
                 budget: Annotated[str | None, Field(description="Forecast this budget's scope and period.")] = None,
                 limit_usd: Annotated[str | None, Field(description="A limit in USD to compare with.")] = None,
                 ) -> CallToolResult:
        """Projected end-of-month spend (weekday-aware), its range, and when a limit runs out."""
        return answer(lambda: answers.forecast(ledger, scope=scope or (), agent=agent, budget=budget,
                                               limit_usd=limit_usd))

    @server.tool(annotations=read_only)
    def session_cost(session: Annotated[str | None, Field(description="A session id, or its start "
                                                                      "(default: the latest for project).")] = None,
                     project: Project = None) -> CallToolResult:
        """The current session's cost: by id, or the latest session under the project (default: this directory)."""
        return answer(lambda: answers.session_cost(ledger, session=session, project=project))

    @server.tool(annotations=read_only)
    def top_sessions(limit: Annotated[int, Field(description="How many (1-1000).")] = 10, tags: Tags = None,
                     project: Project = None, agent: Agent = None, period: Period = None, since: Since = None,
                     until: Until = None) -> CallToolResult:
        """The most expensive sessions that match, costliest first."""
        return answer(lambda: answers.top_sessions(ledger, limit=limit, tags=tags or (), project=project,
                                                   agent=agent, period=period, since=since, until=until))

    return server


def serve(ledger: Ledger) -> None:
    build(ledger).run("stdio")
