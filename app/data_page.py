"""Data page: what was read, per-series spans and gaps, the repairs made, and the first rows."""
from __future__ import annotations

import streamlit as st

import forecasting as fc
from app import common
from app.data_source import Dataset, describe_freq, need_data


def render() -> None:
    st.title("Data")
    dataset: Dataset = need_data()
    report = dataset.report
    st.caption(common.plain(dataset.label))
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Series", f"{report.n_series:,}")
    c2.metric("Rows", f"{report.n_rows:,}")
    c3.metric("Frequency", describe_freq(report.freq))
    c4.metric("Repairs", len(report.repairs))

    st.subheader("Series")
    st.caption("One row per series: its span, how many observations, and how many were filled in by the "
               "cleaning policy (gaps and empty values).")
    st.dataframe(fc.series_summary(dataset.panel), hide_index=True)

    st.subheader("Repairs")
    if report.repairs:
        st.dataframe([{"policy": r.policy, "series": r.series, "rows": r.rows, "detail": r.detail}
                      for r in report.repairs], hide_index=True)
    else:
        st.caption("None needed: the data was regular and complete.")

    st.subheader("Notes on how the file was read")
    if report.notes:
        st.caption("Decisions that change no value but that you should know: a guess between two readings "
                   "that both fit the file, a column's role, a conversion.")
        st.dataframe([{"topic": note.topic, "column": note.column, "detail": note.detail} for note in report.notes],
                     hide_index=True)
    else:
        st.caption("None: nothing had to be guessed.")

    st.subheader("First rows")
    first_rows = dataset.frame.head(100)
    st.dataframe(first_rows, hide_index=True, height=260, column_config=common.date_columns(first_rows))
