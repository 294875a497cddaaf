"""How good the forecasts are: metrics, rolling-origin backtests, charts, reports and exports."""
