"""The guard job: budgets, forecasts, anomalies, alerts, and the checks that enforce them."""
