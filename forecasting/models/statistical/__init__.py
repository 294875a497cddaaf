"""Local models, fitted one series at a time: the classical benchmarks, ETS, ARIMA and Theta."""
