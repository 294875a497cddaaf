"""The sidebar: where the data comes from, how it was read (every guess overridable), and how it is cleaned.

The result is a `Dataset` kept in st.session_state, which every page reads through `current()`.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import streamlit as st

import forecasting as fc
from app.common import plain

UPLOAD_TYPES = ["csv", "tsv", "txt", "gz", "parquet"]
DEFAULT_SAMPLE = "air_passengers"
SAMPLE_LABELS = {
    "air_passengers": "Air passengers (monthly)",
    "etth1": "ETTh1 (hourly, 7 series)",
    "pedestrians": "Pedestrians (daily)",
}
SEPARATORS = {",": "comma (,)", ";": "semicolon (;)", "\t": "tab", "|": "pipe (|)"}
DECIMALS = {".": "point (.)", ",": "comma (,)"}
ENCODINGS = ["utf-8", "utf-8-sig", "cp1252", "latin-1"]
DAY_ORDER = {"month": "month first (01/31/2024)", "day": "day first (31/01/2024)"}
AUTO = "auto"  # the option meaning 'as detected' (a string: Streamlit shows a None option as 'nothing chosen')
FREQUENCIES = {
    "min": "minutely", "15min": "15 minutes", "30min": "30 minutes", "h": "hourly", "D": "daily",
    "B": "business days", "W": "weekly", "MS": "monthly", "QS": "quarterly", "YS": "yearly",
}
FILLS = {"interpolate": "interpolate linearly", "ffill": "carry last value forward", "zero": "fill with zero",
         "error": "stop with an error"}
DUPLICATES = {"error": "stop with an error", "mean": "average them", "sum": "add them up",
              "first": "keep the first", "last": "keep the last"}

_LOG = logging.getLogger(__name__)
_OVERRIDE_TEXT = {  # read_table argument -> its value in words
    "sep": lambda sep: f"delimiter {SEPARATORS.get(sep, repr(sep))}",
    "decimal": lambda decimal: f"decimal mark {DECIMALS.get(decimal, repr(decimal))}",
    "encoding": lambda encoding: f"encoding {encoding}",
    "dayfirst": lambda dayfirst: f"dates {DAY_ORDER['day' if dayfirst else 'month']}",
    "time_col": lambda column: f"date column {column!r}",
    "id_col": lambda column: f"series id column {column!r}",
    "target_col": lambda columns: f"value column(s) {columns!r}",
    "freq": lambda freq: f"frequency {freq}",
    "fill": lambda fill: f"gaps: {FILLS.get(fill, fill)}",
    "duplicates": lambda duplicates: f"repeated timestamps: {DUPLICATES.get(duplicates, duplicates)}",
}
_DEFAULT_POLICIES = {"fill": "interpolate", "duplicates": "error"}  # the cleaning choices every read starts with
_STATE = "dataset"          # the current Dataset, or None
_ERROR = "dataset_error"    # why the last read failed (a DataError message, or `unreadable`), or None
_LOADED = "dataset_loaded"  # (read key, Dataset | None, error | None): re-read only when the key changes


@dataclass
class Dataset:
    """The data the sidebar chose: a validated Panel, its name, and how it was read."""

    panel: fc.Panel
    label: str                       # the file or sample name, for captions and reports
    key: str                         # changes whenever the data or how it is read changes
    overrides: dict = field(default_factory=dict)

    @property
    def frame(self) -> pd.DataFrame:
        return self.panel.frame

    @property
    def report(self) -> fc.FrameReport:
        return self.panel.report

    @property
    def format(self) -> fc.TableFormat | None:
        return self.panel.format

    @property
    def series_ids(self) -> list[str]:
        return self.panel.series_ids

    @property
    def freq(self) -> str:
        return self.panel.freq


def current() -> Dataset | None:
    """The dataset chosen in the sidebar on this run, or None (then the sidebar shows why)."""
    return st.session_state.get(_STATE)


def current_error() -> str | None:
    """The DataError message of the last read, when it failed."""
    return st.session_state.get(_ERROR)


def need_data():
    """The loaded Dataset; without one, the page says why (the DataError in full) and stops."""
    dataset = current()
    if dataset is None:
        error = current_error()
        if error:
            st.error(plain(error), icon=":material/error:")
            st.caption("Change the file, or how it is read (sidebar: *How the file was read*, *Cleaning*).")
        else:
            st.info("Choose a sample dataset or upload a file in the sidebar.", icon=":material/arrow_back:")
        st.stop()
    return dataset


def sidebar() -> Dataset | None:
    """Draw the sidebar and load the data it describes; the Dataset is also kept for the pages."""
    with st.sidebar:
        st.caption("Forecasts and backtests you can check.")
        st.subheader("Your data")
        choice = st.radio("Source", ["Sample dataset", "Upload a file"], key="source_kind", horizontal=True,
                          label_visibility="collapsed")
        if choice == "Sample dataset":
            sample = st.selectbox("Sample dataset", fc.datasets.available(), key="sample_name",
                                  index=fc.datasets.available().index(DEFAULT_SAMPLE),
                                  format_func=lambda name: SAMPLE_LABELS.get(name, name))
            uploaded = None
        else:
            sample = None
            uploaded = st.file_uploader(
                "CSV, TSV or Parquet file", type=UPLOAD_TYPES, key="upload",
                help=f"Up to {upload_limit()}. A long table (id, date, value columns) or a wide one "
                     "(a date column and one numeric column per series). Gzipped CSV works too.")
            st.caption(f"Files up to {upload_limit()}: CSV/TSV (any delimiter, UTF-8 or Latin-1), "
                       "gzipped CSV, Parquet.")
            st.caption("A folder of files, or more series than one upload holds: `almanac forecast big/ --engine "
                       "local:4` forecasts them on a Dask cluster and writes Parquet (see the README).")
        overrides = _pending_overrides(uploaded is not None)
        dataset, error = _load(sample, uploaded, overrides)
        st.session_state[_STATE], st.session_state[_ERROR] = dataset, error
        if error:
            st.error("The data could not be read: the page says why.", icon=":material/error:")
        elif dataset is None:
            st.info("Upload a file to start, or pick a sample dataset.", icon=":material/upload_file:")
        else:
            _status(dataset)
            if uploaded is not None:
                _guesses(dataset)
        if uploaded is not None or sample is not None:
            _format_controls(dataset, is_upload=uploaded is not None)
            _cleaning_controls()
    return dataset


def upload_limit() -> str:
    """The largest upload, e.g. '200 MB (200,000,000 bytes)'.

    Streamlit's server.maxUploadSize is in megabytes that its server counts as MiB (1024² bytes) and its
    upload box as MB (1000² bytes, except in browsers on Windows): the MB count is the limit every browser keeps."""
    megabytes = st.get_option("server.maxUploadSize")
    return f"{megabytes} MB ({megabytes * 1000**2:,} bytes)"


# ---- loading ----------------------------------------------------------------------------------------


def _pending_overrides(is_upload: bool) -> dict:
    """read_table arguments from the override widgets (their values as of this run); None means 'detect'."""
    state = st.session_state

    def chosen(key: str) -> str | None:
        value = state.get(key, AUTO)
        return None if value == AUTO else value

    overrides = {
        "freq": chosen("ovr_freq"),
        "fill": state.get("ovr_fill", _DEFAULT_POLICIES["fill"]),
        "duplicates": state.get("ovr_duplicates", _DEFAULT_POLICIES["duplicates"]),
    }
    if is_upload:
        targets = [name.strip() for name in (state.get("ovr_target") or "").split(",") if name.strip()]
        overrides.update({
            "sep": chosen("ovr_sep"), "decimal": chosen("ovr_decimal"), "encoding": chosen("ovr_encoding"),
            "dayfirst": {None: None, "month": False, "day": True}[chosen("ovr_dayfirst")],
            "time_col": (state.get("ovr_time") or "").strip() or None,
            "id_col": (state.get("ovr_id") or "").strip() or None,
            "target_col": (targets[0] if len(targets) == 1 else targets) or None,
        })
    return overrides


def _load(sample: str | None, uploaded, overrides: dict) -> tuple[Dataset | None, str | None]:
    """The dataset for these inputs, read again only when the file, sample or an override changed."""
    if sample is None and uploaded is None:
        return None, None
    source_key = f"sample:{sample}" if sample is not None else f"upload:{uploaded.file_id}:{uploaded.name}"
    key = hashlib.sha1(repr((source_key, sorted(overrides.items()))).encode()).hexdigest()[:16]
    cached = st.session_state.get(_LOADED)
    if cached is not None and cached[0] == key:
        return cached[1], cached[2]
    name = SAMPLE_LABELS.get(sample, sample) if sample is not None else uploaded.name
    try:
        dataset = _read_sample(sample, overrides, key) if sample is not None else _read_upload(uploaded, overrides, key)
        result = (dataset, None)
    except fc.DataError as error:
        result = (None, str(error))
    except Exception:  # one the reader does not describe: its own text would mean nothing to the user
        _LOG.exception("reading %s with %s failed", name, overrides)
        result = (None, unreadable(name, overrides, is_upload=uploaded is not None))
    st.session_state[_LOADED] = (key, *result)
    return result


def unreadable(name: str, overrides: dict, is_upload: bool) -> str:
    """The message for data that could not be read for a reason the reader does not name: which file, with which
    settings, and what to change."""
    chosen = [text(overrides[key]) for key, text in _OVERRIDE_TEXT.items()
              if overrides.get(key) is not None and overrides[key] != _DEFAULT_POLICIES.get(key)]
    settings = f"with {', '.join(chosen)}" if chosen else "with the settings detected"
    if not is_upload:
        return (f"The sample {name} could not be prepared {settings}. Choose another frequency, or the default "
                "cleaning (sidebar: 'How the file was read', 'Cleaning').")
    return (f"{name} could not be read {settings}. Check that it is a table with a header row, a date column and "
            "numeric value columns; set the delimiter, decimal mark, encoding and date order under 'How the file "
            "was read' to match it, or save it again as a UTF-8 CSV and upload that.")


def _read_sample(name: str, overrides: dict, key: str) -> Dataset:
    """A bundled sample; resampling and the cleaning policies go through validate_frame."""
    panel = fc.datasets.load(name)
    if overrides["freq"] or any(overrides[key] != default for key, default in _DEFAULT_POLICIES.items()):
        panel = fc.validate_frame(panel, freq=overrides["freq"], fill=overrides["fill"],
                                  duplicates=overrides["duplicates"])
    return Dataset(panel, Path(panel.source).name, key, overrides)


def _read_upload(uploaded, overrides: dict, key: str) -> Dataset:
    """An uploaded file through read_table, with the overrides the user set."""
    uploaded.seek(0)
    with st.spinner(f"Reading {plain(uploaded.name)}…"):
        panel = fc.read_table(uploaded, **{name: value for name, value in overrides.items() if value is not None})
    return Dataset(panel, uploaded.name, key, overrides)


# ---- display ----------------------------------------------------------------------------------------


def _status(dataset: Dataset) -> None:
    """One line on what was loaded, and whether anything was repaired."""
    report = dataset.report
    st.success(f"{report.n_series} series, {report.n_rows:,} rows, {describe_freq(report.freq)}",
               icon=":material/check_circle:")
    if report.repairs:
        st.caption(f"{len(report.repairs)} repair(s) applied: see the Data page.")
    if report.notes:
        st.caption(f"{len(report.notes)} note(s) on how the file was read: see the Data page.")


def _guesses(dataset: Dataset) -> None:
    """Readings the file alone could not decide between, each with a one-click switch to the other."""
    fmt = dataset.format
    if fmt is None:
        return
    if fmt.dayfirst_ambiguous:
        used, other = ("day", "month") if fmt.dayfirst else ("month", "day")
        st.warning(f"Dates were read {DAY_ORDER[used]}, but every date also reads {DAY_ORDER[other]}: "
                   "check the frequency above.", icon=":material/help:")
        st.button(f"Read dates {DAY_ORDER[other]}", key="switch_dayfirst", on_click=_choose, args=("ovr_dayfirst", other))
    if fmt.decimal_ambiguous:
        other = "," if fmt.decimal == "." else "."
        st.warning(f"Numbers were read with the decimal {DECIMALS[fmt.decimal]}, but they also read with the "
                   f"decimal {DECIMALS[other]} (e.g. 1.000 as one or as a thousand).", icon=":material/help:")
        st.button(f"Read numbers with the decimal {DECIMALS[other]}", key="switch_decimal", on_click=_choose,
                  args=("ovr_decimal", other))


def _choose(key: str, value: str) -> None:
    """Set an override widget's value (a button callback runs before the widgets are drawn again)."""
    st.session_state[key] = value


def describe_freq(freq: str) -> str:
    """'hourly (h)', 'weekly (W-SUN)' for the usual aliases, else 'frequency <alias>'."""
    base = freq.split("-")[0]
    return f"{FREQUENCIES[base]} ({freq})" if base in FREQUENCIES else f"frequency {freq}"


def _auto(labels: dict | None = None):
    """format_func for an override select whose first option, AUTO, means 'as detected'.

    Its label is the same for every file: Streamlit keeps a select's value by its label."""
    return lambda value: "auto (as detected)" if value == AUTO else (labels or {}).get(value, value)


def _detections(dataset: Dataset) -> str:
    """What was sniffed, in one line."""
    fmt, parts = dataset.format, []
    if fmt is not None:
        if fmt.encoding == "parquet":
            parts += ["a Parquet file", f"dates in column '{fmt.time_col}'"]
        else:
            parts += [f"delimiter {SEPARATORS.get(fmt.sep, repr(fmt.sep))}",
                      f"decimal {DECIMALS.get(fmt.decimal, fmt.decimal)}", f"encoding {fmt.encoding}",
                      f"dates in column '{fmt.time_col}' ({fmt.date_format})"]
        if fmt.layout == "wide":
            parts.append(f"wide table: one series per numeric column ({len(dataset.series_ids)})")
        else:
            parts.append("long table: one row per series and date")
    parts.append(describe_freq(dataset.report.freq))
    return "Detected: " + " · ".join(parts) + "."


def _format_controls(dataset: Dataset | None, is_upload: bool) -> None:
    """How the file was read: every sniffed choice shown, and overridable (a change re-reads the file)."""
    with st.expander("How the file was read", expanded=dataset is None and is_upload):
        if dataset is not None:
            st.caption(plain(_detections(dataset)))
        if not is_upload:
            st.caption("Sample files are read as shipped; upload a file to change how it is read.")
        else:
            st.selectbox("Delimiter", [AUTO, *SEPARATORS], key="ovr_sep", format_func=_auto(SEPARATORS))
            st.selectbox("Decimal mark", [AUTO, *DECIMALS], key="ovr_decimal", format_func=_auto(DECIMALS))
            st.selectbox("Encoding", [AUTO, *ENCODINGS], key="ovr_encoding", format_func=_auto())
            st.selectbox("Dates", [AUTO, *DAY_ORDER], key="ovr_dayfirst", format_func=_auto(DAY_ORDER))
            st.text_input("Date column", key="ovr_time", placeholder="auto (as detected)")
            st.text_input("Series id column", key="ovr_id", placeholder="auto (as detected)",
                          help="For a long table: the column that tells series apart.")
            st.text_input("Value column(s), comma-separated", key="ovr_target", placeholder="auto (as detected)",
                          help="A long table has one; in a wide table each becomes a series "
                               "(the other numeric columns are kept as covariates).")
        st.selectbox("Frequency", [AUTO, *FREQUENCIES], key="ovr_freq",
                     format_func=_auto({alias: f"{name} ({alias})" for alias, name in FREQUENCIES.items()}),
                     help="Choosing a frequency resamples every series to it (averaging the values in each period).")


def _cleaning_controls() -> None:
    """The repair policies: how gaps and repeated timestamps are handled."""
    with st.expander("Cleaning"):
        st.selectbox("Gaps and empty values", list(FILLS), key="ovr_fill", format_func=FILLS.get)
        st.selectbox("Repeated timestamps", list(DUPLICATES), key="ovr_duplicates", format_func=DUPLICATES.get)
