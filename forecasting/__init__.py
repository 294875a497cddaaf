"""Almanac: time-series forecasting with classical, neural and language-model backbones.

    import forecasting as fc
    df = fc.read_table("sales.csv")                       # validated long frame
    model = fc.Forecaster(["ets", "theta"], h=24, level=[80, 95]).fit(df)
    forecasts = model.predict()                           # unique_id, ds, ets, ets-lo-95, ...
    fc.Forecaster([fc.Informer(epochs=5), "dlinear", "ets"], h=96).fit(df)   # networks beside classics
"""
from . import datasets, metrics
from .backtest import Backtest, run_backtest
from .errors import DataError, ModelFileError
from .forecaster import Forecaster
from .frame import FrameReport, validate_frame
from .models import (ARIMA, ETS, REGISTRY, DLinear, Drift, HyperMamba, Informer, Mamba, Naive, Naive2, PatchTST,
                     SeasonalNaive, Theta, TimeLLM, TimeLLMAttention, TimeLLMWithoutLM)
from .reading import read_table
from .report import backtest_report

__all__ = ["Forecaster", "read_table", "validate_frame", "FrameReport", "DataError", "ModelFileError",
           "run_backtest", "backtest_report", "Backtest", "datasets", "metrics",
           "REGISTRY", "Naive", "SeasonalNaive", "Drift", "Naive2", "ETS", "ARIMA", "Theta",
           "DLinear", "PatchTST", "Informer", "Mamba", "HyperMamba", "TimeLLM", "TimeLLMWithoutLM", "TimeLLMAttention"]
