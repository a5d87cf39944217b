"""`spendtag invoice`, `record-cost`, `reprice` and `prices diff` end to end, with exact output.

Costs are made round with a rate card for `test-model` ($1 input, $2 output per million tokens).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from spendtag.cli import main
from spendtag.cli.billing import prices_diff
from spendtag.cli.main import cli
from spendtag.cli.prices import prices

BIG = '{"input_tokens": 1000000, "output_tokens": 500000}'      # $1 + $1 = $2.00
SMALL = '{"input_tokens": 500000, "output_tokens": 250000}'     # $1.00


@pytest.fixture(autouse=True)
def billing_commands(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Wire the commands as the lead will (LAZY_COMMANDS, `prices diff`) without editing main.py."""
    for name in ("invoice", "record-cost", "reprice"):
        monkeypatch.setitem(main.LAZY_COMMANDS, name, "spendtag.cli.billing")
    monkeypatch.setitem(prices.commands, "diff", prices_diff)
    yield


def invoke(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=input, env={"COLUMNS": "160"})
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def run(*args: str, input: str | None = None) -> str:
    code, out, err = invoke(*args, input=input)
    assert code == 0, out + err
    return out


def fail(*args: str) -> str:
    code, out, err = invoke(*args)
    assert code == 2, out + err
    return err


def seed() -> None:
    run("prices", "override", "test-model", "--input", "1", "--output", "2")
    for args in (("a1", BIG, "client=acme", "planner", "2026-03-02"),
                 ("a2", SMALL, "client=acme,billing=credit", "coder", "2026-03-03"),
                 ("g1", BIG, "client=globex,ticket=T1", "", "2026-03-04"),
                 ("g2", SMALL, "client=globex,ticket=T2", "", "2026-03-05"),
                 ("u1", SMALL, "", "", "2026-03-06"),
                 ("x1", BIG, "client=acme", "", "2026-04-02")):
        event_id, usage, tags, agent, day = args
        run("record", "--provider", "local", "--model", "test-model", "--usage", usage, "--event-id", event_id,
            "--ts", f"{day}T10:00:00Z", *(["--tag", tags] if tags else []), *(["--agent", agent] if agent else []))
    run("record-cost", "49.00", "--tag", "client=acme", "--note", "tool seat, March", "--date", "2026-03-01",
        "--event-id", "f1")


def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    path = tmp_path / "spendtag.toml"
    path.write_text(text)
    monkeypatch.setenv("SPENDTAG_CONFIG", str(path))


# The client's document: 2-decimal items that add up to the subtotal exactly. The shared $0.945454545455 is
# spread over the lines by cost and the 30% markup folded in: (3 + 0.054545...) x 1.3 = 3.9709 -> 3.97,
# (49 + 0.890909...) x 1.3 = 64.8582 -> 64.86, -1 x 1.3 = -1.30; 3.97 + 64.86 - 1.30 = 67.53.
ACME = (
    "DRAFT INVOICE (NOT ISSUED)\n"
    "\n"
    "Bill to\n"
    "  acme\n"
    "\n"
    "Invoice number  draft, not issued\n"
    "Issue date      2026-04-01\n"
    "Due date        2026-05-01 (30 days)\n"
    "Service period  2026-03-01 – 2026-03-31\n"
    "\n"
    "Description                                                               Amount\n"
    "--------------------------------------------------------------------------------\n"
    "test-model                                                              USD 3.97\n"
    "  2 requests · 2,250,000 tokens\n"
    "tool seat, March (2026-03-01)                                          USD 64.86\n"
    "Included usage (credits and free tier)                                 USD -1.30\n"
    "--------------------------------------------------------------------------------\n"
    "Subtotal                                                               USD 67.53\n"
    "Total due (USD)                                                        USD 67.53\n"
)
DRAFT = ("--issued-on", "2026-04-01")


def test_invoice_table_is_the_client_document() -> None:
    seed()
    code, out, err = invoke("invoice", "--client", "acme", "--period", "2026-03", "--markup", "30%",
                            "--allocate", "proportional", *DRAFT)
    assert code == 0 and out == ACME
    assert "cost $51.95 · billed $67.53 before tax (USD)" in err
    assert "names no seller: set [business] name" in err


def test_invoice_csv_and_json() -> None:
    seed()
    out = run("invoice", "--client", "acme", "--period", "2026-03", "--markup", "30%", "--allocate", "proportional",
              "--format", "csv", *DRAFT)
    assert out == (
        "section,description,requests,tokens,amount,currency,billed\n"
        "usage,test-model,2,2250000,3.00,USD,\n"
        'fixed,"2026-03-01 · fixed-cost · tool seat, March",1,,49.00,USD,\n'
        "credit,Credits and free tier (usage tagged billing=credit),,,-1.00,USD,\n"
        'allocation,"Shared cost allocated, proportional",,,0.945454545455,USD,\n'
        "subtotal,Cost subtotal,,,51.945454545455,USD,\n"
        "cost,Cost at list price,,,51.945454545455,USD,true\n"
        "markup,Markup 30%,,,15.5836363636365,USD,true\n"
        "total_exact,Total before rounding,,,67.5290909090915,USD,\n"
        "item,test-model,,,3.97,USD,true\n"
        'item,"tool seat, March (2026-03-01)",,,64.86,USD,true\n'
        "item,Included usage (credits and free tier),,,-1.30,USD,true\n"
        "item_subtotal,Subtotal,,,67.53,USD,\n"
        "total_due,Total due,,,67.53,USD,\n"
    )
    doc = json.loads(run("invoice", "--client", "acme", "--period", "2026-03", "--format", "json", *DRAFT))
    assert (doc["total_due"], doc["terms"], doc["number"]) == ("51.00", {"model": "pass-through"}, None)
    assert [e["id"] for e in doc["events"]] == ["f1", "a1", "a2"]
    assert doc["prices"][doc["events"][1]["price"]]["rates"] == {"input_tokens": "0.000001",
                                                                 "output_tokens": "0.000002"}
    assert doc["period"] == {"label": "2026-03", "since": "2026-03-01T00:00:00Z", "until": "2026-04-01T00:00:00Z",
                             "tz": "UTC"}
    client = doc["client_document"]
    assert (client["currency"], client["subtotal"], client["total"], client["due_date"]) == (
        "USD", "51.00", "51.00", "2026-05-01")
    assert [i["amount"] for i in client["items"]] == ["3.00", "49.00", "-1.00"]


def test_invoice_by_agent_and_fixed_fee() -> None:
    seed()
    out = run("invoice", "--client", "acme", "--period", "2026-03", "--by", "agent", "--fixed-fee", "40",
              "--usage-cap", "45", *DRAFT)
    assert out.split("-" * 80 + "\n")[1:] == [
        "Fixed fee                                                              USD 40.00\n"
        "  covers usage up to USD 45.00\n"
        "Usage above the amount the fixed fee covers                             USD 6.00\n",
        "Subtotal                                                               USD 46.00\n"
        "Total due (USD)                                                        USD 46.00\n",
    ]
    # The agency's appendix keeps the cost lines by agent.
    csv_rows = run("invoice", "--client", "acme", "--period", "2026-03", "--by", "agent", "--fixed-fee", "40",
                   "--usage-cap", "45", "--format", "csv", *DRAFT).splitlines()
    assert csv_rows[1:3] == ["usage,planner,1,1500000,2.00,USD,", "usage,coder,1,750000,1.00,USD,"]


def test_invoice_all_writes_one_file_per_client_and_a_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config(tmp_path, monkeypatch, '[billing]\nallocate = "proportional"\n'
                                  '[billing.clients.acme]\nmarkup = "30%"\n'
                                  '[billing.clients.globex]\nmodel = "per-unit"\nunit = "ticket"\nprice = "2.50"\n')
    seed()
    out = run("invoice", "--all", "--period", "2026-03", "--output-dir", str(tmp_path / "inv"), *DRAFT)
    assert out == (
        "Invoices 2026-03 · 2 clients · shared cost: proportional\n"
        "\n"
        "client  revenue    cost  margin  even split  attributed  difference\n"
        "acme     $67.53  $51.95  $15.58      $28.00      $52.95     -$24.95\n"
        "globex    $5.00   $3.05   $1.95      $28.00       $3.05      $24.95\n"
        "total    $72.53  $55.00  $17.53      $56.00      $56.00       $0.00\n"
        "\n"
        "Untagged spend: $1.00 · allocated to clients: $1.00 · left as overhead: $0.00\n"
        "Ledger total for the period: $56.00 (= attributed $56.00 + overhead $0.00)\n"
        "Even split: the period's whole bill divided equally among the clients. Difference = even split - "
        "attributed: above zero, an even split would have overcharged the client; below zero, undercharged.\n"
        f"wrote 2 invoices, summary.txt and summary.csv to {tmp_path / 'inv'}\n"
    )
    files = sorted(p.name for p in (tmp_path / "inv").iterdir())
    assert files == ["acme-2026-03.txt", "globex-2026-03.txt", "summary.csv", "summary.txt"]
    assert (tmp_path / "inv" / "acme-2026-03.txt").read_text() == ACME
    globex = (tmp_path / "inv" / "globex-2026-03.txt").read_text()
    assert "2 × ticket" in globex and "  at USD 2.50 each\n" in globex
    assert globex.endswith("Total due (USD)" + " " * 57 + "USD 5.00\n")
    assert (tmp_path / "inv" / "summary.csv").read_text() == (
        "client,revenue_usd,cost_usd,margin_usd,even_split_usd,attributed_usd,difference_usd\n"
        "acme,67.53,51.945454545455,15.584545454545,28.00,52.945454545455,-24.945454545455\n"
        "globex,5.00,3.054545454545,1.945454545455,28.00,3.054545454545,24.945454545455\n"
        "total,72.53,55.00,17.53,56.00,56.00,0.00\n"
        "(untagged),,1.00,,,,\n"
        "(overhead),,0.00,,,,\n"
    )


def test_issue_list_show_and_no_double_issue() -> None:
    seed()
    code, issued, err = invoke("invoice", "--client", "globex", "--period", "2026-03", "--per-unit", "ticket=2.50",
                               "--issue", "--issued-on", "2026-04-01")
    assert code == 0
    assert err.startswith("issued INV-2026-0001 · globex · 2026-03 · total due USD 5.00 · due 2026-05-01\n")
    assert issued.startswith("INVOICE INV-2026-0001\n\nBill to\n  globex\n\nInvoice number  INV-2026-0001\n"
                             "Issue date      2026-04-01\nDue date        2026-05-01 (30 days)\n")
    assert run("invoice", "show", "INV-2026-0001") == issued
    assert json.loads(run("invoice", "show", "INV-2026-0001", "--format", "json"))["number"] == "INV-2026-0001"
    assert run("invoice", "list") == (
        "number         client  period   due         status   total due\n"
        "INV-2026-0001  globex  2026-03  2026-05-01  overdue   USD 5.00\n"
    )
    assert fail("invoice", "--client", "globex", "--period", "2026-03", "--issue") == (
        "error: client=globex 2026-03 was already issued as INV-2026-0001: see `spendtag invoice show "
        "INV-2026-0001`, or pass --reissue for a new number\n")
    code, again, err = invoke("invoice", "--client", "globex", "--period", "2026-03", "--issue", "--reissue",
                              "--issued-on", "2026-04-02")
    assert code == 0 and err.startswith("issued INV-2026-0002 ")
    assert fail("invoice", "show", "INV-2026-0099") == (
        "error: no issued invoice 'INV-2026-0099'; see `spendtag invoice list`\n")


def test_unpriced_calls_are_never_issued() -> None:
    run("record", "--provider", "acme-ai", "--model", "house-model-9", "--usage", BIG, "--tag", "client=acme",
        "--event-id", "h1", "--ts", "2026-03-02T10:00:00Z")
    code, draft, err = invoke("invoice", "--client", "acme", "--period", "2026-03")
    assert code == 0 and "Draft: 1 calls could not be priced and are not included.\n" in draft
    assert "warning: acme: 1 calls could not be priced and are not billed: acme-ai/house-model-9 (1)" in err
    assert fail("invoice", "--client", "acme", "--period", "2026-03", "--issue") == (
        "error: not issued: 1 calls could not be priced: acme-ai/house-model-9 (1); add a price with `spendtag "
        "prices override`, run `spendtag reprice`, then issue\n")
    assert run("invoice", "list").startswith("no invoices issued yet")


def test_record_cost_output_and_idempotency() -> None:
    assert run("record-cost", "49.00", "--tag", "client=acme", "--note", "tool seat", "--kind", "subscription",
               "--date", "2026-03-01", "--event-id", "f1") == "recorded: f1 · subscription $49.00 · client=acme\n"
    assert run("record-cost", "12", "--date", "2026-03-01", "--event-id", "f1") == (
        "already recorded (unchanged): f1 · subscription $49.00 · client=acme\n")
    data = json.loads(run("report", "--by", "client", "--format", "json"))
    assert data["total"]["cost_usd"] == "49.00"
    assert fail("record-cost", "0").startswith("error: a fixed cost must be more than $0")


def test_reprice_dry_run_then_confirm() -> None:
    seed()
    assert run("reprice", "--period", "2026-03", "--dry-run") == (
        "nothing to reprice: 5 events already have current prices (1 fixed costs are never repriced)\n")
    run("prices", "override", "test-model", "--multiplier", "0.5", "--scope", "client=globex")
    table = (
        "client  model       events  recorded  current prices  difference\n"
        "globex  test-model       2     $3.00           $1.50      -$1.50\n"
        "total                    2     $3.00           $1.50      -$1.50\n"
    )
    assert run("reprice", "--period", "2026-03", "--dry-run") == (
        table + "dry run: nothing written; 2 events would get a new cost revision\n")
    code, out, _ = invoke("reprice", "--period", "2026-03", input="n\n")
    assert code == 1 and "Record new costs for 2 events (previous costs are kept)? [y/N]" in out
    assert run("reprice", "--period", "2026-03", "--scope", "client=globex", "--yes") == (
        table + "revised 2 events; previous costs kept as revisions. Issued invoices keep their prices.\n")
    assert run("reprice", "--period", "2026-03", "--dry-run").startswith("nothing to reprice")
    code, _, err = invoke("reprice")
    assert code == 2 and "give the events to reprice" in err


def test_prices_diff_against_a_litellm_file(tmp_path: Path) -> None:
    litellm = tmp_path / "model_prices_and_context_window.json"
    litellm.write_text(json.dumps({
        "sample_spec": {"input_cost_per_token": 0},
        "claude-sonnet-4-5": {"input_cost_per_token": 3e-06, "output_cost_per_token": 1.6e-05,
                              "cache_read_input_token_cost": 3e-07, "cache_creation_input_token_cost": 3.75e-06,
                              "litellm_provider": "anthropic"},
        "gpt-4o": {"input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05, "litellm_provider": "openai"},
    }))
    run("record", "--provider", "anthropic", "--model", "claude-sonnet-4-5", "--usage",
        '{"input_tokens": 10, "output_tokens": 10}', "--event-id", "s1", "--ts", "2026-03-14T00:00:00Z")
    run("record-cost", "5", "--event-id", "f1", "--date", "2026-03-01")
    expected = (
        "provider   model              bucket         genai-prices  litellm\n"
        "anthropic  claude-sonnet-4-5  output_tokens            15       16\n"
    )
    assert run("prices", "diff", "--litellm", str(litellm), "--date", "2026-03-14") == (
        expected + "compared 1 models: 1 rates differ in 1 models; 0 not in the LiteLLM file; "
        "0 without a list price\n")
    assert run("prices", "diff", "--litellm", str(litellm), "--date", "2026-03-14", "--all") == (
        expected + "compared 2 models: 1 rates differ in 1 models; 0 not in the LiteLLM file; "
        "0 without a list price\n")
    code, _, _ = invoke("prices", "diff", "--litellm", str(litellm), "--date", "2026-03-14", "--strict")
    assert code == 1


def test_usage_errors_are_clear() -> None:
    assert "give --client NAME or --all" in fail("invoice", "--period", "2026-03")
    assert "give the period to bill" in fail("invoice", "--client", "acme")
    assert "give --output-dir DIR" in fail("invoice", "--all", "--period", "2026-03")
    assert fail("invoice", "--client", "acme", "--period", "2026-03", "--markup", "10%", "--pass-through") == (
        "error: choose one pricing model: --markup and --pass-through were both given\n")
    assert fail("invoice", "--client", "acme", "--period", "2026-03", "--allocate", "fixed:acme=50") == (
        "error: allocation fixed: percentages sum to 50, not 100\n")


def test_pdf_needs_nothing_beyond_the_install(tmp_path: Path) -> None:
    seed()
    target = tmp_path / "acme.pdf"
    out = run("invoice", "--client", "acme", "--period", "2026-03", "--format", "pdf", "--output", str(target),
              *DRAFT)
    assert out == f"wrote draft · acme · 2026-03 · total due USD 51.00 to {target}\n"
    assert target.read_bytes().startswith(b"%PDF-")
    assert "--format pdf needs --output FILE" in fail("invoice", "--client", "acme", "--period", "2026-03",
                                                      "--format", "pdf")
