"""Almanac: time-series forecasting with classical, neural and language-model backbones.

    import forecasting as fc
    panel = fc.read_table("sales.csv")                    # validated: panel.frame, panel.report, panel.format
    model = fc.Forecaster(["ets", "theta"], h=24, level=[80, 95]).fit(panel)
    forecasts = model.predict()                           # unique_id, ds, ets, ets-lo-95, ...
    fc.Forecaster([fc.model("informer", epochs=5), "dlinear", "ets"], h=96).fit(panel)   # networks beside classics

Layout: `data` (reading, validation, frequencies, datasets), `models` (the registry, statistical
models, the neural engine), `evaluation` (metrics, backtests, reports, charts, exports) and `api`
(the Forecaster, saving, the command line). This module is the public API.
"""
from forecasting.api.forecaster import Forecaster
from forecasting.api import auto  # noqa: F401  (registers "auto", which compares the other models)
from forecasting.data import datasets
from forecasting.data.frame import validate_frame
from forecasting.data.frequency import season_length
from forecasting.data.panel import FrameReport, Note, Panel, Repair, TableFormat
from forecasting.data.reading import read_table
from forecasting.data.summary import series_summary
from forecasting.data.text import detected_text_columns, text_marks
from forecasting.errors import DataError, ModelFileError
from forecasting.evaluation import metrics
from forecasting.evaluation.backtest import REFERENCE, Backtest, run_backtest
from forecasting.evaluation.export import to_csv_bytes
from forecasting.evaluation.plotting import (CHARTED_ANALOGUES, analogue_figure, backtest_figure, forecast_figure,
                                            ranking_figure)
from forecasting.evaluation.report import backtest_report, render_report
from forecasting.models import (ARIMA, ETS, REGISTRY, Drift, Naive, Naive2, NeuralModel, SeasonalNaive, Theta,
                                description, is_network, model, register, uses_language_model)
from forecasting.models.intervals import ShortCalibration
from forecasting.models.neural.training import TrainingError
from forecasting.models.season_fallback import SeasonFallback, describe_fallbacks

__all__ = ["Forecaster", "read_table", "validate_frame", "Panel", "FrameReport", "Repair", "Note", "TableFormat",
           "DataError", "ModelFileError", "TrainingError", "run_backtest", "backtest_report", "render_report",
           "Backtest", "REFERENCE", "datasets", "metrics", "series_summary", "season_length", "to_csv_bytes",
           "forecast_figure", "backtest_figure", "ranking_figure", "analogue_figure", "CHARTED_ANALOGUES", "REGISTRY",
           "register", "model",
           "description", "is_network", "uses_language_model", "NeuralModel", "Naive", "SeasonalNaive", "Drift",
           "Naive2", "ETS", "ARIMA", "Theta", "SeasonFallback", "ShortCalibration", "describe_fallbacks",
           "detected_text_columns", "text_marks"]
