"""Small pieces the pages share: model and interval choices, the progress bar, result captions."""
from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import streamlit as st

import forecasting as fc
from app import session

# auto chooses the best model (or ensemble) for the data by a backtest; seasonal naive, the reference every model
# must beat, is drawn first while auto works
DEFAULT_MODELS = ["auto", "seasonal_naive"]
# the order models run in, fastest first (the others after these: auto, then the networks)
FAST_FIRST = ["seasonal_naive", "naive", "drift", "naive2", "linear", "almanac_base", "theta", "analog", "ets", "arima", "mstl"]
LEVELS = [50, 80, 90, 95, 99]
DEFAULT_LEVELS = [80, 95]
MAX_ANALOGUES = 100
STAGES = {"fit": "Fitting", "predict": "Forecasting", "backtest": "Backtesting"}


_MARKDOWN = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:])")


def plain(text: object) -> str:
    """Text from the data (ids, column and file names, DataError messages) for st.error/st.caption, which
    render Markdown: every Markdown, HTML, LaTeX ($) and directive (:) character is escaped, so it shows as typed."""
    return _MARKDOWN.sub(r"\\\1", str(text))


def model_names() -> list[str]:
    """Every registered model but `pretrained`, which needs a checkpoint folder (its bundled one is almanac_base)."""
    return [name for name in fc.REGISTRY if name != "pretrained"]


def run_order(models: list[str]) -> list[str]:
    """The models in the order they run: fastest first, auto next, the networks last."""
    def cost(name: str) -> int:
        if name in FAST_FIRST:
            return FAST_FIRST.index(name)
        return len(FAST_FIRST) + (0 if name == "auto" else 1)
    return sorted(models, key=cost)


def model_label(name: str) -> str:
    return f"{name}: {fc.models.description(name)}"


def prompt_description(models: list[str], key: str) -> str:
    """A line about the data, asked for only when a chosen model reads one through a language model
    ("" lets the model derive one)."""
    readers = [name for name in models if fc.uses_language_model(name)]
    if not readers:
        return ""
    return st.text_input(
        f"What the data is, in a sentence ({', '.join(readers)} prompt)", key=key, persist_state="session",
        placeholder="e.g. Monthly airline passengers, in thousands, 1949-1960.",
        help="The language model reads it before every window. Left empty, it says how many series "
             "there are and how often they are observed.").strip()


def retrieval_input(models: list[str], key: str) -> int:
    """How many analogues the chosen networks fuse into their forecasts (0: none), asked only when one is chosen."""
    networks = [name for name in models if fc.is_network(name)]
    if not networks:
        return 0
    return int(st.number_input(
        "Analogues fused into the networks (k, 0 = none)", min_value=0, max_value=MAX_ANALOGUES, value=0, step=1,
        key=key, persist_state="session",
        help=f"{', '.join(networks)} also read(s) the futures of the k past windows most like each input window "
             "(never one from after its cutoff), weighted by what training learns; 0 is the plain network."))


def auto_budget_input(models: list[str], key: str) -> int:
    """Seconds auto may take, its final refit included (0: no limit), asked only when auto is chosen."""
    if "auto" not in models:
        return 0
    return int(st.number_input(
        "Time auto may take (s, 0 = no limit)", min_value=0, max_value=86_400, value=0, step=30,
        key=key, persist_state="session",
        help="Auto backtests its candidates fastest first and stops early enough to refit the best it found; a "
             "candidate still running then is stopped, those not started are skipped, each said so. Hundreds of "
             "long series can take many minutes without a limit."))


def build_models(settings: dict) -> list:
    """The chosen models, by name, or as configs where they take a setting from the page: the description of
    the data for those that read one (when there is one), the analogues to fuse for networks (when above 0),
    auto's time budget (when above 0)."""
    return [fc.model(name, **own) if (own := _model_settings(name, settings)) else name for name in settings["models"]]


def _model_settings(name: str, settings: dict) -> dict:
    own = {}
    if settings.get("description") and fc.uses_language_model(name):
        own["description"] = settings["description"]
    if settings.get("retrieval") and fc.is_network(name):
        own["retrieval"] = settings["retrieval"]
    if settings.get("auto_budget") and name == "auto":
        own["time_budget"] = settings["auto_budget"]
    return own


def nonnegative_toggle(dataset, key: str) -> bool:
    """Whether forecasts stop at zero: on by default when no value in the data is negative, and said so."""
    detected = dataset.panel.never_negative
    return st.toggle(
        "Keep forecasts at or above zero", value=detected, key=f"{key}_{dataset.key}",
        help="No value in this data is negative (counts, sales, rates), so forecasts and their intervals stop "
             "at zero." if detected else "This data has negative values, so forecasts may go below zero.")


def default_horizon(freq: str) -> int:
    """One season of the data's frequency (24 hours, 12 months, 7 days, ...), at least 1."""
    try:
        return max(1, int(fc.season_length(freq)))
    except ValueError:
        return 12


@contextmanager
def running(label: str) -> Iterator[Callable[[str, int, int], None]]:
    """A st.progress bar while the block runs; yields the callback for Forecaster's progress(stage, done, total),
    which also stops the work when the browser session has ended (see app/session.py).

    A DataError or a ValueError (settings the models cannot use) ends the block as an st.error callout."""
    bar = st.progress(0.0, text=f"{label}…")
    shown, sent = None, 0.0  # the last (value, text) sent, and when: an unchanged one is sent again once a second,
    # as a heartbeat: Streamlit stops a run (the Stop button, a widget changed) only when the script sends something
    began: dict[str, float] = {}   # when each stage started, for the time left

    def report(stage: str, done: int, total: int) -> None:
        nonlocal shown, sent
        session.stop_if_ended()
        if stage == "train auto":       # auto backtests its candidates one after the other
            text = f"{label}: {done} of {total} candidate models compared"
        elif stage.startswith("train "):  # a network trains once across all series, epoch by epoch
            text = f"{label}: {done} of at most {total} epochs done"
        else:
            text = f"{label}: {STAGES.get(stage, stage).lower()}, {done} of {total} model × series task(s)"
        elapsed = time.monotonic() - began.setdefault(stage, time.monotonic())
        if 0 < done < total:
            text += f", about {_duration(elapsed / done * (total - done))} left"
        update = (done / total if total else 1.0, text)
        if update != shown or time.monotonic() - sent >= 1.0:
            bar.progress(*update)
            shown, sent = update, time.monotonic()

    try:
        yield report
    except (fc.DataError, fc.TrainingError) as error:
        st.error(plain(error), icon=":material/error:")
    except ValueError as error:
        st.error(plain(f"These settings cannot be used: {error}"), icon=":material/error:")
    finally:
        bar.empty()


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def date_columns(frame) -> dict:
    """column_config showing datetime columns without a time of day when every value is at midnight
    (daily and coarser data), so a date reads as a date."""
    config = {}
    for column in frame.columns:
        values = frame[column]
        if values.dtype.kind == "M" and (values.dropna() == values.dropna().dt.normalize()).all():
            config[str(column)] = st.column_config.DatetimeColumn(format="YYYY-MM-DD")
    return config


def number_columns(frame, digits: int = 3) -> dict:
    """column_config showing every float column with `digits` decimals and coverage columns as percentages
    labelled with their nominal level."""
    config = {}
    for column in frame.columns:
        name = str(column)
        nominal = fc.metrics.nominal_coverage(name)
        if nominal is not None:
            config[name] = st.column_config.NumberColumn(f"{name} (nominal {nominal:.0%})", format="percent",
                                                         help="Share of actuals inside the interval.")
        elif frame[column].dtype.kind == "f":
            config[name] = st.column_config.NumberColumn(format=f"%.{digits}f")
    return config


def run_and_keep(dataset, settings: dict, *, action: str, result_key: str, run: Callable, hint: str, icon: str):
    """A page's flow: the action button runs `run(dataset, settings)`, which stores its result in
    st.session_state[result_key]; returns that result for this dataset (None before the first run)."""
    if st.button(action, type="primary", icon=":material/play_arrow:", disabled=not settings["models"]):
        run(dataset, settings)
    result = st.session_state.get(result_key)
    if result is None or result.data_key != dataset.key:
        st.info(f"{hint}, then press **{action}**.", icon=icon)
        return None
    if result.settings != settings:
        st.caption(f"The settings changed since this result: press **{action}** to update it.")
    return result
