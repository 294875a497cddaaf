"""The `almanac` command line: forecast, evaluate and backtest files (or bundled datasets by name)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
import dask.dataframe as dd
import pandas as pd
from distributed import Client

from forecasting.api.distributed import connect, write_parquet
from forecasting.api.forecaster import Forecaster
from forecasting.api.settings import configured_models
from forecasting.data import datasets
from forecasting.data.frequency import season_length
from forecasting.data.panel import Panel
from forecasting.data.reading import names_many_files, read_table
from forecasting.data.text import describe_text
from forecasting.errors import DataError, ModelFileError
from forecasting.evaluation.backtest import run_backtest
from forecasting.evaluation.export import to_csv_bytes
from forecasting.evaluation.metrics import evaluate, summarize
from forecasting.evaluation.plotting import forecast_figure, write_html
from forecasting.evaluation.report import render_report
from forecasting.models import REGISTRY, description
from forecasting.pretraining.command import add_pretrain_command

DEFAULT_MODEL = "auto"
NONNEGATIVE = {"auto": None, "on": True, "off": False}
DAYFIRST = {"auto": None, "true": True, "false": False}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if "model" in args and args.model is None:
        args.model = [DEFAULT_MODEL]
    try:
        if "model" in args:
            args.model = configured_models(args.model, args.set or [], library=args.library)
        return args.command(args)
    except (DataError, ModelFileError, ValueError, OSError) as error:
        print(f"almanac: error: {error}", file=sys.stderr)
        return 2


def forecast_command(args: argparse.Namespace) -> int:
    if args.engine or names_many_files(args.file):
        return _forecast_on_cluster(args)
    args.out = args.out or "forecast.csv"
    panel, forecaster = _read(args), _forecaster(args)
    future_text = _read_future_text(args.future_text) if args.future_text else None
    forecasts = forecaster.fit(panel).predict(future_text=future_text)
    _print_decisions(forecaster, args)
    _write_csv(forecasts, args.out)
    print(f"{len(forecasts)} rows ({forecasts['unique_id'].nunique()} series x {args.h} steps, "
          f"models {', '.join(model.name for model in forecaster.models)}) -> {args.out}", file=sys.stderr)
    if args.plot:
        write_html(forecast_figure(panel.frame, forecasts), args.plot)
        print(f"chart -> {args.plot}", file=sys.stderr)
    if args.save:
        forecaster.save(args.save)
        print(f"model -> {args.save}", file=sys.stderr)
    if args.analogues:
        _write_csv(forecaster.analogues(), args.analogues)
        print(f"analogues -> {args.analogues}", file=sys.stderr)
    if args.text_effects:
        _write_csv(forecaster.text_effects(), args.text_effects)
        print(f"text effects -> {args.text_effects}", file=sys.stderr)
    if args.compared:
        compared = forecaster.comparisons()
        if not compared:
            raise ValueError("--compared needs the model auto (it is what compares models)")
        _write_csv(next(iter(compared.values())), args.compared)
        print(f"what auto compared -> {args.compared}", file=sys.stderr)
    return 0


CLUSTER_UNSUPPORTED = ("plot", "save", "analogues", "text_effects", "compared", "library")


def _forecast_on_cluster(args: argparse.Namespace) -> int:
    """Forecast a folder, a glob or a big file on a Dask cluster, into a folder of Parquet parts."""
    given = [f"--{name.replace('_', '-')}" for name in CLUSTER_UNSUPPORTED if getattr(args, name, None)]
    if given:
        raise ValueError(f"{', '.join(given)} cannot be used on a cluster (--engine, or a folder of files): "
                         f"forecast without them, or without an engine")
    out = args.out or "forecast"
    if out.endswith((".csv", ".tsv")):
        raise ValueError(f"--out {out}: on a cluster the forecasts are written as a folder of Parquet parts; name "
                         f"a folder, e.g. --out forecast")
    client = connect(args.engine or "local")
    try:
        workers = len(client.scheduler_info()["workers"])
        print(f"engine: {client.scheduler.address} ({workers} workers)", file=sys.stderr)
        data = _read(args)
        forecaster = _forecaster(args, engine=client)
        future_text = _read_future_text(args.future_text) if args.future_text else None
        result = forecaster.fit(data).predict(future_text=future_text)
        columns = forecaster.text_columns_
        if columns:
            known = f" (known in advance: {', '.join(columns.future)})" if columns.future else ""
            print(f"text columns read: {', '.join(columns.names)}{known}", file=sys.stderr)
        rows, errors = write_parquet(result, out, client)
    finally:
        cluster = client.cluster      # the local cluster started here; None for a scheduler's address
        client.close()
        if cluster is not None:
            cluster.close()
    print(f"{rows} rows (models {', '.join(model.name for model in forecaster.models)}, frequency {forecaster.freq_})"
          f" -> {out}/ (Parquet, one part per partition)", file=sys.stderr)
    if errors:
        print(f"{errors} rows name a series that failed, in the column 'error': the other series are complete",
              file=sys.stderr)
    return 0


def evaluate_command(args: argparse.Namespace) -> int:
    panel, forecaster = _read(args), _forecaster(args)
    backtest = forecaster.cross_validation(panel, n_windows=args.windows, step_size=args.step, refit=not args.no_refit)
    _print_decisions(forecaster, args)
    summary = summarize(backtest, panel.frame)
    print(summary.to_string(float_format=lambda v: f"{v:.4f}"))
    if args.out:
        _write_csv(summary.reset_index(), args.out)
        print(f"summary -> {args.out}", file=sys.stderr)
    if args.per_series:
        _write_csv(evaluate(backtest, panel.frame), args.per_series)
        print(f"per-series metrics -> {args.per_series}", file=sys.stderr)
    if args.forecasts:
        _write_csv(backtest, args.forecasts)
        print(f"backtest forecasts -> {args.forecasts}", file=sys.stderr)
    return 0


def backtest_command(args: argparse.Namespace) -> int:
    panel = _read(args)
    h = args.h if args.h is not None else _default_horizon(panel)
    backtest = run_backtest(panel, args.model, h=h, n_windows=args.windows, step_size=args.step, level=args.level,
                            refit=not args.no_refit, freq=args.freq, n_jobs=args.n_jobs,
                            nonnegative=NONNEGATIVE[args.nonnegative], source=args.file, text_cols=args.text_cols,
                            future_text_cols=args.future_text_cols or (), description_col=args.description_col,
                            text_encoder=args.text_encoder)
    print(backtest.ranking.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(backtest.verdict)
    _print_notes(backtest.fallback_notes)
    Path(args.report).parent.mkdir(parents=True, exist_ok=True)
    Path(args.report).write_text(render_report(backtest), encoding="utf-8")
    print(f"report -> {args.report}", file=sys.stderr)
    if args.out:
        _write_csv(backtest.ranking, args.out)
        print(f"ranking -> {args.out}", file=sys.stderr)
    return 0


def models_command(args: argparse.Namespace) -> int:
    for name in REGISTRY:
        print(f"{name:16s} {description(name)}")
    return 0


def _read(args: argparse.Namespace) -> Panel | dd.DataFrame:
    """The file, bundled dataset, or (lazily) folder or glob of files the command reads."""
    if not Path(args.file).exists() and args.file in datasets.available():
        panel = datasets.load(args.file)
    elif names_many_files(args.file):
        return read_table(args.file, id_col=args.id_col, time_col=args.time_col, target_col=args.target_col,
                          sep=args.sep, decimal=args.decimal, encoding=args.encoding, dayfirst=DAYFIRST[args.dayfirst],
                          timezone=args.timezone, freq=args.freq, fill=args.fill, duplicates=args.duplicates)
    else:
        panel = read_table(args.file, id_col=args.id_col, time_col=args.time_col, target_col=args.target_col,
                           sep=args.sep, decimal=args.decimal, encoding=args.encoding,
                           dayfirst=DAYFIRST[args.dayfirst], timezone=args.timezone,
                           freq=args.freq, fill=args.fill, duplicates=args.duplicates)
    if panel.report.repairs or panel.report.notes:
        print(panel.report.summary(), file=sys.stderr)
    return panel


def _forecaster(args: argparse.Namespace, engine: Client | None = None) -> Forecaster:
    return Forecaster(args.model, h=args.h, freq=args.freq, level=args.level, n_jobs=args.n_jobs,
                      nonnegative=NONNEGATIVE[args.nonnegative], text_cols=args.text_cols,
                      future_text_cols=args.future_text_cols or (), description_col=args.description_col,
                      text_encoder=args.text_encoder, engine=engine)


def _read_future_text(path: str) -> pd.DataFrame:
    """The horizon's planned text: a CSV of unique_id, ds and text columns known in advance (empty cells: no text)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _print_decisions(forecaster: Forecaster, args: argparse.Namespace) -> None:
    """What the Forecaster decided for the user: forecasts kept at or above zero, seasons not used."""
    if forecaster.nonnegative_ and args.nonnegative == "auto":
        print("forecasts kept at or above zero: no value in the data is negative "
              "(--nonnegative off allows negative forecasts)", file=sys.stderr)
    for line in describe_text(forecaster.panel, forecaster.text_columns_):
        print(line + ("" if args.text_cols is not None else " (detected; --text-cols names others, or none)"),
              file=sys.stderr)
    _print_notes(forecaster.fallback_notes + forecaster.choice_notes)


def _default_horizon(panel: Panel) -> int:
    """One season of the data's frequency, e.g. 12 for monthly data; --h is needed when it has none."""
    period = season_length(panel.freq)
    if period < 2:
        raise ValueError("the data's frequency has no season to default the horizon to; pass --h")
    return period


def _print_notes(notes: list[str]) -> None:
    """Sentences about the fit, such as season fallbacks, on stderr with the other messages."""
    for note in notes:
        print(note, file=sys.stderr)


def _write_csv(frame: pd.DataFrame, path: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(to_csv_bytes(frame))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="almanac", description="Forecast time series from CSV files.")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    def data_command(name: str, help_: str, h_default: str | None = None) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_, description=help_)
        sub.add_argument("file", help=f"CSV/TSV/Parquet file, or a bundled dataset: {', '.join(datasets.available())}")
        sub.add_argument("--h", type=int, required=h_default is None,
                         help="forecast horizon in steps" + (f" (default: {h_default})" if h_default else ""))
        sub.add_argument("--model", "--models", dest="model", nargs="+", action="extend", choices=list(REGISTRY),
                         metavar="MODEL",
                         help=f"one or more of: {', '.join(REGISTRY)} (default: {DEFAULT_MODEL})")
        sub.add_argument("--set", action="append", metavar="MODEL.FIELD=VALUE",
                         help="model setting, e.g. --set dlinear.epochs=20 --set informer.network.d_model=128")
        sub.add_argument("--level", nargs="+", action="extend", type=int, help="interval levels, e.g. 80 95")
        sub.add_argument("--freq", help="pandas frequency to resample to (default: inferred)")
        sub.add_argument("--id-col", help="column with series ids (long files)")
        sub.add_argument("--time-col", help="date column (default: detected)")
        sub.add_argument("--target-col", nargs="+", help="target column(s) (default: detected)")
        # how the file is written, where the notes say the reader guessed (their dayfirst=, decimal=, encoding=)
        sub.add_argument("--sep", help="delimiter (default: detected)")
        sub.add_argument("--decimal", choices=[".", ","], help="decimal mark (default: detected)")
        sub.add_argument("--encoding", help="text encoding, e.g. cp1252 (default: UTF-8, else detected)")
        sub.add_argument("--dayfirst", choices=list(DAYFIRST), default="auto",
                         help="day before month in dates like 01.02.2024 (default auto: detected, noted when guessed)")
        sub.add_argument("--timezone", default="UTC", help="zone that dates with UTC offsets are converted to "
                                                           "(default: UTC)")
        sub.add_argument("--fill", default="interpolate", choices=["interpolate", "ffill", "zero", "error"],
                         help="how to fill missing timestamps and values (default: interpolate)")
        sub.add_argument("--duplicates", default="error", choices=["error", "mean", "sum", "first", "last"],
                         help="what to do with repeated timestamps in a series (default: error)")
        sub.add_argument("--nonnegative", choices=list(NONNEGATIVE), default="auto",
                         help="keep forecasts and intervals at or above zero (default auto: when no value is negative)")
        sub.add_argument("--n-jobs", type=int, help="worker processes (default: all cores)")
        sub.add_argument("--library", help="a file of other series that the models which retrieve (analog, or a "
                                           "network with --set NAME.retrieval=K) also retrieve analogues from")
        sub.add_argument("--text-cols", nargs="*", metavar="COLUMN",
                         help="text covariate columns the models read (default: every column holding text; "
                              "--text-cols alone: none)")
        sub.add_argument("--future-text-cols", nargs="+", metavar="COLUMN",
                         help="those of the text columns known in advance, e.g. planned promotions")
        sub.add_argument("--description-col", metavar="COLUMN",
                         help="column describing each series in words (one text per series), read by TimeLLM's "
                              "prompt and HyperMamba's conditioning")
        sub.add_argument("--text-encoder", metavar="MODEL",
                         help="BERT or RoBERTa model (directory or hub name) encoding the text (default: the bundled "
                              "MiniLM)")
        return sub

    forecast = data_command("forecast", "Fit models and forecast the next h steps of every series.")
    forecast.add_argument("--out", help="forecast CSV (default: forecast.csv); on a cluster a folder of Parquet "
                                        "parts (default: forecast)")
    forecast.add_argument("--engine", metavar="ENGINE",
                          help="forecast on a Dask cluster: local:N (N worker processes here) or a scheduler address "
                               "tcp://HOST:8786; a folder or glob of files runs on local (every core) without it")
    forecast.add_argument("--plot", help="also write an interactive HTML chart here")
    forecast.add_argument("--save", help="also save the fitted models to this directory")
    forecast.add_argument("--analogues", help="also write the past windows each forecast retrieved to this CSV")
    forecast.add_argument("--future-text", metavar="CSV",
                          help="planned text over the horizon: unique_id, ds and --future-text-cols columns")
    forecast.add_argument("--text-effects", metavar="CSV",
                          help="also write what the planned text does in ARIMA (coefficients, p-values) to this CSV")
    forecast.add_argument("--compared", metavar="CSV",
                          help="also write what auto compared (each option's scores, coverage, seconds, status)")
    forecast.set_defaults(command=forecast_command)

    evaluation = data_command("evaluate", "Backtest models over rolling windows and report accuracy.")
    _window_arguments(evaluation)
    evaluation.add_argument("--out", help="summary metrics CSV")
    evaluation.add_argument("--per-series", help="per-series metrics CSV")
    evaluation.add_argument("--forecasts", help="backtest forecasts CSV")
    evaluation.set_defaults(command=evaluate_command)

    backtest = data_command("backtest", "Backtest models against seasonal naive and write an HTML report.",
                            h_default="one season of the data's frequency")
    _window_arguments(backtest)
    backtest.add_argument("--report", default="backtest.html", help="HTML report (default: backtest.html)")
    backtest.add_argument("--out", help="ranking CSV (one row per model)")
    backtest.set_defaults(command=backtest_command)

    listing = commands.add_parser("models", help="List the available models.")
    listing.set_defaults(command=models_command)

    add_pretrain_command(commands)

    return parser


def _window_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--windows", type=int, default=3, help="number of backtest windows (default: 3)")
    sub.add_argument("--step", type=int, help="steps between window origins (default: h)")
    sub.add_argument("--no-refit", action="store_true", help="estimate once, at the first cutoff")
