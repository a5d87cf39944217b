"""`spendtag invoice`, `record-cost`, `reprice` and `prices diff` end to end, with exact output.

Costs are made round with a rate card for `test-model` ($1 input, $2 output per million tokens).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from spendtag.bill.render import pdf_available
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


STATEMENT = (
    "Each call is priced at its own time from its recorded token counts, bucket by bucket (uncached input, cache "
    "reads, cache writes, output, audio, web searches), at the list prices of the price data named on this invoice "
    "or your price overrides, in exact decimal arithmetic.\n"
)
ROUNDING = ("Amounts are exact to 1e-12 USD on every line; only the total due is rounded, to whole cents, half to "
            "even (banker's rounding).\n")

ACME = (
    "Invoice (draft, not issued)\n"
    "Client:  acme (client=acme)\n"
    "Period:  2026-03 (2026-03-01 00:00 – 2026-04-01 00:00 UTC)\n"
    "Terms:   cost plus 30% markup\n"
    "\n"
    "model                                                          requests     tokens            amount\n"
    "test-model                                                            2  2,250,000             $3.00\n"
    "2026-03-01 · fixed-cost · tool seat, March                            1                       $49.00\n"
    "Credits and free tier (usage tagged billing=credit)                                           -$1.00\n"
    "Shared cost allocated, proportional (of $1.00 untagged spend)                        $0.945454545455\n"
    "Cost subtotal                                                                       $51.945454545455\n"
    "\n"
    "charges                                   amount\n"
    "Cost at list price              $51.945454545455\n"
    "Markup 30%                     $15.5836363636365\n"
    "Total before rounding          $67.5290909090915\n"
    "Rounding to cents (half-even)   $0.0009090909085\n"
    "TOTAL DUE                                 $67.53\n"
    "\n"
    "Prices: override #1; record-cost · 3 calls\n"
    "\n"
    + STATEMENT +
    "Fixed costs are amounts recorded with `spendtag record-cost`.\n"
    "Usage tagged billing=credit (credits, free tier) is shown at list price and credited on its own line.\n"
    "Shared (untagged) cost of the period, $1.00, is allocated to clients by the policy 'proportional'; this "
    "client's part is $0.945454545455.\n"
    "The markup applies to the cost subtotal (after credited usage, with the allocated share).\n"
    + ROUNDING
)


def test_invoice_table_is_exact() -> None:
    seed()
    assert run("invoice", "--client", "acme", "--period", "2026-03", "--markup", "30%",
               "--allocate", "proportional") == ACME


def test_invoice_csv_and_json() -> None:
    seed()
    out = run("invoice", "--client", "acme", "--period", "2026-03", "--markup", "30%", "--allocate", "proportional",
              "--format", "csv")
    assert out == (
        "section,description,requests,tokens,amount_usd,billed\n"
        "usage,test-model,2,2250000,3.00,\n"
        'fixed,"2026-03-01 · fixed-cost · tool seat, March",1,,49.00,\n'
        "credit,Credits and free tier (usage tagged billing=credit),,,-1.00,\n"
        'allocation,"Shared cost allocated, proportional",,,0.945454545455,\n'
        "subtotal,Cost subtotal,,,51.945454545455,\n"
        "cost,Cost at list price,,,51.945454545455,true\n"
        "markup,Markup 30%,,,15.5836363636365,true\n"
        "total_exact,Total before rounding,,,67.5290909090915,\n"
        "rounding,Rounding to cents (half-even),,,0.0009090909085,\n"
        "total_due,Total due,,,67.53,\n"
    )
    doc = json.loads(run("invoice", "--client", "acme", "--period", "2026-03", "--format", "json"))
    assert (doc["total_due"], doc["terms"], doc["number"]) == ("51.00", {"model": "pass-through"}, None)
    assert [e["id"] for e in doc["events"]] == ["f1", "a1", "a2"]
    assert doc["prices"][doc["events"][1]["price"]]["rates"] == {"input_tokens": "0.000001",
                                                                 "output_tokens": "0.000002"}
    assert doc["period"] == {"label": "2026-03", "since": "2026-03-01T00:00:00Z", "until": "2026-04-01T00:00:00Z",
                             "tz": "UTC"}


def test_invoice_by_agent_and_fixed_fee() -> None:
    seed()
    out = run("invoice", "--client", "acme", "--period", "2026-03", "--by", "agent", "--fixed-fee", "40",
              "--usage-cap", "45")
    lines = out.splitlines()
    assert lines[5:11] == [
        "agent                                                requests     tokens  amount",
        "planner                                                     1  1,500,000   $2.00",
        "coder                                                       1    750,000   $1.00",
        "2026-03-01 · fixed-cost · tool seat, March                  1             $49.00",
        "Credits and free tier (usage tagged billing=credit)                       -$1.00",
        "Cost subtotal                                                             $51.00",
    ]
    assert lines[12:18] == [
        "charges                                amount",
        "Fixed fee (covers usage up to $45.00)  $40.00",
        "Usage above the $45.00 cap              $6.00",
        "Total before rounding                  $46.00",
        "Rounding to cents (half-even)           $0.00",
        "TOTAL DUE                              $46.00",
    ]


def test_invoice_all_writes_one_file_per_client_and_a_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config(tmp_path, monkeypatch, '[billing]\nallocate = "proportional"\n'
                                  '[billing.clients.acme]\nmarkup = "30%"\n'
                                  '[billing.clients.globex]\nmodel = "per-unit"\nunit = "ticket"\nprice = "2.50"\n')
    seed()
    out = run("invoice", "--all", "--period", "2026-03", "--output-dir", str(tmp_path / "inv"))
    assert out == (
        "Invoices 2026-03 · 2 clients · shared cost: proportional\n"
        "\n"
        "client  revenue              cost            margin  even split        attributed         difference\n"
        "acme     $67.53  $51.945454545455  $15.584545454545      $28.00  $52.945454545455  -$24.945454545455\n"
        "globex    $5.00   $3.054545454545   $1.945454545455      $28.00   $3.054545454545   $24.945454545455\n"
        "total    $72.53            $55.00            $17.53      $56.00            $56.00              $0.00\n"
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
    assert "2 ticket × $2.50                $5.00\n" in globex
    assert "cost per unit $1.53 (average) vs unit price $2.50: margin per unit $0.97\n" in globex
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
    assert err == "issued INV-2026-0001 · globex · 2026-03 · total due $5.00\n"
    assert issued.startswith("Invoice INV-2026-0001 · issued 2026-04-01\nClient:  globex (client=globex)\n")
    assert run("invoice", "show", "INV-2026-0001") == issued
    assert json.loads(run("invoice", "show", "INV-2026-0001", "--format", "json"))["number"] == "INV-2026-0001"
    assert run("invoice", "list") == (
        "number         client  period   issued      total due\n"
        "INV-2026-0001  globex  2026-03  2026-04-01      $5.00\n"
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
    draft = run("invoice", "--client", "acme", "--period", "2026-03")
    assert "warning: not in this invoice, could not be priced: acme-ai/house-model-9 (1 calls)\n" in draft
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


@pytest.mark.skipif(pdf_available(), reason="WeasyPrint is installed: PDF output works")
def test_pdf_without_the_extra_says_what_to_install(tmp_path: Path) -> None:
    seed()
    assert fail("invoice", "--client", "acme", "--period", "2026-03", "--format", "pdf", "--output",
                str(tmp_path / "x.pdf")) == (
        "error: PDF output needs WeasyPrint: pip install weasyprint (or write --format html and print it "
        "from a browser)\n")
